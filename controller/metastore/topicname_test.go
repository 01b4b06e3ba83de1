package metastore

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValidateTopicName(t *testing.T) {
	tests := []struct {
		name  string
		topic string
		ok    bool
	}{
		{"plain", "orders", true},
		{"all allowed characters", "a.B_c-9", true},
		{"longest", strings.Repeat("x", 249), true},
		{"empty", "", false},
		{"dot", ".", false},
		{"dot dot", "..", false},
		{"too long", strings.Repeat("x", 250), false},
		{"space", "a b", false},
		{"slash", "a/b", false},
		{"unicode", "tópico", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateTopicName(tc.topic)
			if tc.ok {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, ErrInvalidTopic)
			}
		})
	}
}
