package broker

// AlterConfigs (versions 0-2) and IncrementalAlterConfigs (versions 0-1).
//
// AlterConfigs replaces a topic's whole override set; IncrementalAlterConfigs
// (KIP-339) applies SET, DELETE, APPEND and SUBTRACT (the last two on list
// configs only) to the current set. Both validate every name and value
// against the topic config table before writing, honour ValidateOnly, and
// store the new set in one metadata write; brokers apply it to their logs
// when the store reports the change.
//
// BROKER resources ("<this broker's id>" or "" for the cluster default)
// edit the dynamic broker configs in the metadata store (dynconfig.go),
// validated as Kafka's ConfigAdminManager does: a key Kafka cannot update
// dynamically, or a bad value, is INVALID_REQUEST with Kafka's message
// (KAFKA-13609 kept that code); a key kafkad does not know is
// INVALID_CONFIG.

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/protocol"
)

func (b *Broker) handleAlterConfigs(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.AlterConfigsRequest)
	resp := kmsg.NewPtrAlterConfigsResponse()
	for _, rr := range req.Resources {
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		err := b.alterConfigs(ctx, rr.ResourceType, rr.ResourceName, req.ValidateOnly, func(map[string]string) (map[string]string, error) {
			next := make(map[string]string, len(rr.Configs))
			var nulls []string
			for _, c := range rr.Configs {
				if _, dup := next[c.Name]; dup {
					return nil, invalidRequestf("Error due to duplicate config keys")
				}
				if c.Value == nil {
					nulls = append(nulls, c.Name)
				}
				next[c.Name] = derefOr(c.Value, "")
			}
			if len(nulls) > 0 {
				return nil, invalidRequestf("Null value not supported for : %s", strings.Join(nulls, ", "))
			}
			return next, nil
		})
		sr.ErrorCode, sr.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}

func (b *Broker) handleIncrementalAlterConfigs(ctx context.Context, r *protocol.Request) kmsg.Response {
	req := r.Body.(*kmsg.IncrementalAlterConfigsRequest)
	resp := kmsg.NewPtrIncrementalAlterConfigsResponse()
	for _, rr := range req.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		err := b.alterConfigs(ctx, rr.ResourceType, rr.ResourceName, req.ValidateOnly, func(current map[string]string) (map[string]string, error) {
			next := maps.Clone(current)
			if next == nil {
				next = map[string]string{}
			}
			seen := map[string]bool{}
			for _, c := range rr.Configs {
				if seen[c.Name] {
					return nil, invalidRequestf("Error due to duplicate config keys")
				}
				seen[c.Name] = true
				if err := b.applyIncremental(next, c, rr.ResourceType); err != nil {
					return nil, err
				}
			}
			return next, nil
		})
		sr.ErrorCode, sr.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, sr)
	}
	return resp
}

// alterConfigs computes a topic's or broker's new config set with edit,
// validates it and stores it unless validateOnly.
func (b *Broker) alterConfigs(ctx context.Context, typ kmsg.ConfigResourceType, name string, validateOnly bool, edit func(map[string]string) (map[string]string, error)) error {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
	case kmsg.ConfigResourceTypeBroker:
		return b.alterBrokerConfigs(ctx, name, validateOnly, edit)
	case kmsg.ConfigResourceTypeBrokerLogger:
		return fmt.Errorf("%w: broker logger configs are not supported", errInvalidRequest)
	default:
		return fmt.Errorf("%w: config resource type %d is not supported", errInvalidRequest, typ)
	}
	t, ok := b.store.Topic(name)
	if !ok {
		return fmt.Errorf("%w: %s", errUnknownTopicOrPartition, name)
	}
	next, err := edit(t.Configs)
	if err != nil {
		return err
	}
	if err := validateTopicConfigs(next); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	if _, err := b.store.SetTopicConfigs(ctx, name, next); err != nil {
		return err
	}
	b.log.Info().Str("topic", name).Interface("configs", next).Msg("topic configs changed")
	return nil
}

// alterBrokerConfigs edits the dynamic configs of this broker or of the
// cluster default, validates the whole new set and stores it unless
// validateOnly; the store's change signal applies it on every broker, and
// here at once so that a DescribeConfigs right after shows it.
func (b *Broker) alterBrokerConfigs(ctx context.Context, name string, validateOnly bool, edit func(map[string]string) (map[string]string, error)) error {
	entity, err := b.brokerEntity(name)
	if err != nil {
		return err
	}
	check := func(cur map[string]string) (map[string]string, error) {
		next, err := edit(cur)
		if err != nil {
			return nil, err
		}
		return next, validateBrokerSet(next, b.isStaticKey, b.liveConfig())
	}
	if validateOnly {
		cur := b.store.BrokerConfigs(entity)
		if cur == nil {
			cur = map[string]string{}
		}
		_, err := check(cur)
		return err
	}
	next, err := b.store.UpdateBrokerConfigs(ctx, entity, check)
	if err != nil {
		return err
	}
	b.log.Info().Str("entity", name).Interface("configs", next).Msg("dynamic broker configs changed")
	b.loadBrokerConfigs()
	return nil
}

// applyIncremental applies one IncrementalAlterConfigs operation to a
// topic's or broker's config set.
func (b *Broker) applyIncremental(configs map[string]string, c kmsg.IncrementalAlterConfigsRequestResourceConfig, typ kmsg.ConfigResourceType) error {
	if typ == kmsg.ConfigResourceTypeBroker {
		if c.Value == nil && c.Op != kmsg.IncrementalAlterConfigOpDelete {
			return invalidRequestf("Null value not supported for : %s", c.Name)
		}
		k, dynamic := dynamicKeys[c.Name]
		isList := dynamic && k.typ == kmsg.ConfigTypeList
		return applyConfigOp(configs, c, isList, func() string { return k.get(b.liveConfig()) })
	}
	tc, ok := lookupTopicConfig(c.Name)
	if !ok {
		return fmt.Errorf("%w: unknown topic config %q", errInvalidConfig, c.Name)
	}
	return applyConfigOp(configs, c, tc.typ == kmsg.ConfigTypeList, func() string { return tc.def(b.liveConfig()) })
}

func derefOr(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}

// applyConfigOp applies one IncrementalAlterConfigs operation to set,
// with listDefault giving a list key's value when set lacks it.
func applyConfigOp(set map[string]string, c kmsg.IncrementalAlterConfigsRequestResourceConfig, isList bool, listDefault func() string) error {
	value := ""
	if c.Value != nil {
		value = *c.Value
	}
	switch c.Op {
	case kmsg.IncrementalAlterConfigOpSet:
		if c.Value == nil {
			return fmt.Errorf("%w: SET of %s without a value", errInvalidRequest, c.Name)
		}
		set[c.Name] = value
	case kmsg.IncrementalAlterConfigOpDelete:
		delete(set, c.Name)
	case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
		if !isList {
			return fmt.Errorf("%w: %s is not a list config", errInvalidConfig, c.Name)
		}
		current, ok := set[c.Name]
		if !ok {
			current = listDefault()
		}
		items := splitList(current)
		for _, v := range splitList(value) {
			has := slices.Contains(items, v)
			if c.Op == kmsg.IncrementalAlterConfigOpAppend && !has {
				items = append(items, v)
			} else if c.Op == kmsg.IncrementalAlterConfigOpSubtract && has {
				items = slices.DeleteFunc(items, func(s string) bool { return s == v })
			}
		}
		set[c.Name] = strings.Join(items, ",")
	default:
		return fmt.Errorf("%w: unknown operation %d", errInvalidRequest, c.Op)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
