package broker

// DescribeConfigs, versions 1-4.
//
// v1 is the KIP-896 floor: config sources and synonyms (KIP-226). v3:
// config types and documentation (KIP-525). v4+: flexible.
//
// Topic resources list every topic config: the topic's own override
// (DYNAMIC_TOPIC_CONFIG), else the broker's setting (STATIC_BROKER_CONFIG
// when the broker was started with it), else Kafka's default
// (DEFAULT_CONFIG); synonyms show that chain. Broker resources list the
// broker's static configuration, read-only (dynamic broker configs are not
// supported yet).

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleDescribeConfigs(_ context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.DescribeConfigsRequest)
	resp := kmsg.NewPtrDescribeConfigsResponse()
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var entries []kmsg.DescribeConfigsResponseResourceConfig
		var err error
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			t, ok := b.store.Topic(rr.ResourceName)
			if !ok {
				err = fmt.Errorf("%w: %s", errUnknownTopicOrPartition, rr.ResourceName)
				break
			}
			entries = b.topicConfigEntries(t.Configs, rr.ConfigNames, req.IncludeSynonyms)
		case kmsg.ConfigResourceTypeBroker:
			if err = b.checkBrokerResource(rr.ResourceName); err == nil {
				entries = b.brokerConfigEntries(rr.ConfigNames, req.IncludeSynonyms)
			}
		default:
			err = fmt.Errorf("%w: config resource type %d is not supported", errInvalidRequest, rr.ResourceType)
		}
		if err != nil {
			sr.ErrorCode = errorCode(err)
			sr.ErrorMessage = errorMessage(err)
		}
		if req.IncludeDocumentation {
			for i := range entries {
				if tc, ok := lookupTopicConfig(entries[i].Name); ok && tc.doc != "" && rr.ResourceType == kmsg.ConfigResourceTypeTopic {
					doc := tc.doc
					entries[i].Documentation = &doc
				}
			}
		}
		sr.Configs = entries
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}

// checkBrokerResource accepts this broker's id or "" (cluster default).
func (b *Broker) checkBrokerResource(name string) error {
	if name == "" {
		return nil
	}
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil || int32(id) != b.cfg.BrokerID {
		return fmt.Errorf("%w: broker resource %q is not this broker (%d)", errInvalidRequest, name, b.cfg.BrokerID)
	}
	return nil
}

// topicConfigEntries describes a topic's configs (all when names is nil).
func (b *Broker) topicConfigEntries(overrides map[string]string, names []string, synonyms bool) []kmsg.DescribeConfigsResponseResourceConfig {
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for i := range topicConfigs {
		tc := &topicConfigs[i]
		if names != nil && !slices.Contains(names, tc.name) {
			continue
		}
		e := kmsg.NewDescribeConfigsResponseResourceConfig()
		e.Name, e.ConfigType = tc.name, tc.typ
		def := tc.def(&b.cfg)
		defSource := kmsg.ConfigSourceDefaultConfig
		_, static := b.cfg.StaticConfigs[tc.brokerKey]
		if tc.brokerKey != "" && static {
			defSource = kmsg.ConfigSourceStaticBrokerConfig
		}
		if v, ok := overrides[tc.name]; ok {
			e.Value, e.Source = strPtr(v), kmsg.ConfigSourceDynamicTopicConfig
		} else {
			e.Value, e.Source, e.IsDefault = strPtr(def), defSource, defSource == kmsg.ConfigSourceDefaultConfig
		}
		if synonyms {
			if v, ok := overrides[tc.name]; ok {
				e.ConfigSynonyms = append(e.ConfigSynonyms, synonym(tc.name, v, kmsg.ConfigSourceDynamicTopicConfig))
			}
			if defSource == kmsg.ConfigSourceStaticBrokerConfig {
				e.ConfigSynonyms = append(e.ConfigSynonyms, synonym(tc.brokerKey, def, defSource))
			} else if tc.brokerKey != "" {
				e.ConfigSynonyms = append(e.ConfigSynonyms, synonym(tc.brokerKey, def, kmsg.ConfigSourceDefaultConfig))
			}
		}
		out = append(out, e)
	}
	return out
}

// brokerConfigEntries describes the broker's static configuration.
func (b *Broker) brokerConfigEntries(names []string, synonyms bool) []kmsg.DescribeConfigsResponseResourceConfig {
	keys := make([]string, 0, len(b.cfg.StaticConfigs))
	for k := range b.cfg.StaticConfigs {
		if names == nil || slices.Contains(names, k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := make([]kmsg.DescribeConfigsResponseResourceConfig, 0, len(keys))
	for _, k := range keys {
		e := kmsg.NewDescribeConfigsResponseResourceConfig()
		e.Name, e.Value = k, strPtr(b.cfg.StaticConfigs[k])
		e.ReadOnly, e.Source, e.ConfigType = true, kmsg.ConfigSourceStaticBrokerConfig, kmsg.ConfigTypeString
		if synonyms {
			e.ConfigSynonyms = append(e.ConfigSynonyms, synonym(k, b.cfg.StaticConfigs[k], e.Source))
		}
		out = append(out, e)
	}
	return out
}

func synonym(name, value string, source kmsg.ConfigSource) kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
	s.Name, s.Value, s.Source = name, strPtr(value), source
	return s
}

func strPtr(s string) *string { return &s }
