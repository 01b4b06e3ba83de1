package broker

// DescribeConfigs, versions 1-4.
//
// v1 is the KIP-896 floor: config sources and synonyms (KIP-226). v3:
// config types and documentation (KIP-525). v4+: flexible.
//
// Topic resources list every topic config: the topic's own override
// (DYNAMIC_TOPIC_CONFIG), else the broker's setting (its dynamic value,
// DYNAMIC_BROKER_CONFIG; the cluster-wide dynamic default,
// DYNAMIC_DEFAULT_BROKER_CONFIG; STATIC_BROKER_CONFIG when the broker was
// started with it), else Kafka's default (DEFAULT_CONFIG); synonyms show
// that chain. The broker resource "<id>" lists the broker's static keys
// (read-only) and every dynamic key (read-write) with its effective value;
// "" lists the cluster-wide dynamic defaults only, as Kafka does.

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
				entries = b.brokerConfigEntries(rr.ResourceName != "", rr.ConfigNames, req.IncludeSynonyms)
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
				if k, ok := dynamicKeys[entries[i].Name]; ok && k.doc != "" && rr.ResourceType == kmsg.ConfigResourceTypeBroker {
					doc := k.doc
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
		return invalidRequestf("Unexpected broker id, expected %d or empty string, but received %s", b.cfg.BrokerID, name)
	}
	return nil
}

// topicConfigEntries describes a topic's configs (all when names is nil).
func (b *Broker) topicConfigEntries(overrides map[string]string, names []string, synonyms bool) []kmsg.DescribeConfigsResponseResourceConfig {
	live := b.liveConfig()
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for i := range topicConfigs {
		tc := &topicConfigs[i]
		if tc.internal || names != nil && !slices.Contains(names, tc.name) {
			continue
		}
		e := kmsg.NewDescribeConfigsResponseResourceConfig()
		e.Name, e.ConfigType = tc.name, tc.typ
		def := tc.def(live)
		defSource := kmsg.ConfigSourceDefaultConfig
		if tc.brokerKey != "" {
			defSource = b.dyn.source(tc.brokerKey)
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
			if tc.brokerKey != "" {
				e.ConfigSynonyms = append(e.ConfigSynonyms, b.dyn.synonyms(tc.brokerKey, kafkaDefault(tc.brokerKey), true)...)
			}
		}
		out = append(out, e)
	}
	return out
}

// brokerConfigEntries describes this broker (perBroker) or the cluster
// default: for a broker, every key it was started with and every dynamic
// key; for the default, the dynamic defaults set.
func (b *Broker) brokerConfigEntries(perBroker bool, names []string, synonyms bool) []kmsg.DescribeConfigsResponseResourceConfig {
	live := b.liveConfig()
	keySet := map[string]bool{}
	if perBroker {
		for k := range b.cfg.StaticConfigs {
			keySet[k] = true
		}
		for k := range dynamicKeys {
			keySet[k] = true
		}
		for k := range b.dyn.brokerSet() {
			keySet[k] = true
		}
	}
	for k := range b.dyn.defaultSet() {
		keySet[k] = true
	}
	keys := make([]string, 0, len(keySet))
	for k := range keySet {
		if names == nil || slices.Contains(names, k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := make([]kmsg.DescribeConfigsResponseResourceConfig, 0, len(keys))
	for _, k := range keys {
		e := kmsg.NewDescribeConfigsResponseResourceConfig()
		e.Name, e.ConfigType = k, kmsg.ConfigTypeString
		dk, dynamic := dynamicKeys[k]
		e.ReadOnly = !dynamic
		var chain []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
		if dynamic {
			e.ConfigType = dk.typ
			chain = b.dyn.synonyms(k, kafkaDefault(k), perBroker)
		} else {
			chain = b.dyn.synonyms(k, "", perBroker)
			if perBroker {
				chain = chain[:len(chain)-1] // kafkad knows no default of a static key here
			}
		}
		e.Source = kmsg.ConfigSourceDefaultConfig
		if len(chain) > 0 {
			e.Source = chain[0].Source
		}
		switch {
		case !perBroker:
			e.Value = strPtr(b.dyn.defaultSet()[k])
		case dynamic:
			e.Value = strPtr(dk.get(live))
		default:
			e.Value = strPtr(b.cfg.StaticConfigs[k])
		}
		e.IsDefault = e.Source == kmsg.ConfigSourceDefaultConfig
		if synonyms {
			e.ConfigSynonyms = chain
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
