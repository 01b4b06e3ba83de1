package zaplog

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestRoutesEntriesAtOrAboveMin(t *testing.T) {
	var buf bytes.Buffer
	lg := New(zerolog.New(&buf).With().Str("component", "etcd").Logger(), zapcore.WarnLevel, nil).
		Named("raft").With(zap.String("member", "abc"))

	lg.Info("dropped")
	lg.Warn("kept", zap.Int("term", 3), zap.Error(assert.AnError))

	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	require.Len(t, lines, 1)
	var got map[string]any
	require.NoError(t, json.Unmarshal(lines[0], &got))
	assert.Equal(t, "warn", got["level"])
	assert.Equal(t, "kept", got["message"])
	assert.Equal(t, "etcd", got["component"])
	assert.Equal(t, "raft", got["logger"])
	assert.Equal(t, "abc", got["member"])
	assert.EqualValues(t, 3, got["term"])
	assert.Equal(t, assert.AnError.Error(), got["error"])
}

func TestDemote(t *testing.T) {
	var buf bytes.Buffer
	lg := New(zerolog.New(&buf), zapcore.WarnLevel, func(e zapcore.Entry, fields []zapcore.Field) bool {
		return e.Message == "benign" || len(fields) == 1 && fields[0].Key == "why"
	})
	lg.Error("benign")
	lg.Error("real")
	lg.Error("benign by its fields", zap.String("why", "startup"))
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	require.Len(t, lines, 3)
	assert.Contains(t, string(lines[0]), `"level":"debug"`)
	assert.Contains(t, string(lines[1]), `"level":"error"`)
	assert.Contains(t, string(lines[2]), `"level":"debug"`)
}

func TestLevels(t *testing.T) {
	cases := []struct {
		name string
		in   zapcore.Level
		want zerolog.Level
	}{
		{"debug", zapcore.DebugLevel, zerolog.DebugLevel},
		{"info", zapcore.InfoLevel, zerolog.InfoLevel},
		{"warn", zapcore.WarnLevel, zerolog.WarnLevel},
		{"error", zapcore.ErrorLevel, zerolog.ErrorLevel},
		{"dpanic", zapcore.DPanicLevel, zerolog.ErrorLevel},
		{"panic", zapcore.PanicLevel, zerolog.PanicLevel},
		{"fatal", zapcore.FatalLevel, zerolog.FatalLevel},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, level(tc.in))
		})
	}
}
