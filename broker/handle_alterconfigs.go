package broker

// AlterConfigs (versions 0-2) and IncrementalAlterConfigs (versions 0-1).
//
// AlterConfigs replaces a topic's whole override set; IncrementalAlterConfigs
// (KIP-339) applies SET, DELETE, APPEND and SUBTRACT (the last two on list
// configs only) to the current set. Both validate every name and value
// against the topic config table before writing, honour ValidateOnly, and
// store the new set in one metadata write; brokers apply it to their logs
// when the store reports the change. Broker resources are refused: dynamic
// broker configs are not supported yet.

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
		err := b.alterTopicConfigs(ctx, rr.ResourceType, rr.ResourceName, req.ValidateOnly, func(map[string]string) (map[string]string, error) {
			next := make(map[string]string, len(rr.Configs))
			for _, c := range rr.Configs {
				if c.Value == nil {
					return nil, fmt.Errorf("%w: config %s has a null value", errInvalidRequest, c.Name)
				}
				next[c.Name] = *c.Value
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
		err := b.alterTopicConfigs(ctx, rr.ResourceType, rr.ResourceName, req.ValidateOnly, func(current map[string]string) (map[string]string, error) {
			next := maps.Clone(current)
			if next == nil {
				next = map[string]string{}
			}
			for _, c := range rr.Configs {
				if err := applyIncremental(next, c, b.cfg); err != nil {
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

// alterTopicConfigs computes a topic's new override set with edit,
// validates it and stores it unless validateOnly.
func (b *Broker) alterTopicConfigs(ctx context.Context, typ kmsg.ConfigResourceType, name string, validateOnly bool, edit func(map[string]string) (map[string]string, error)) error {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
	case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger:
		return fmt.Errorf("%w: dynamic broker configs are not supported; set them in server.properties", errInvalidRequest)
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

// applyIncremental applies one IncrementalAlterConfigs operation.
func applyIncremental(configs map[string]string, c kmsg.IncrementalAlterConfigsRequestResourceConfig, cfg Config) error {
	tc, ok := lookupTopicConfig(c.Name)
	if !ok {
		return fmt.Errorf("%w: unknown topic config %q", errInvalidConfig, c.Name)
	}
	value := ""
	if c.Value != nil {
		value = *c.Value
	}
	switch c.Op {
	case kmsg.IncrementalAlterConfigOpSet:
		if c.Value == nil {
			return fmt.Errorf("%w: SET of %s without a value", errInvalidRequest, c.Name)
		}
		configs[c.Name] = value
	case kmsg.IncrementalAlterConfigOpDelete:
		delete(configs, c.Name)
	case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
		if tc.typ != kmsg.ConfigTypeList {
			return fmt.Errorf("%w: %s is not a list config", errInvalidConfig, c.Name)
		}
		current, ok := configs[c.Name]
		if !ok {
			current = tc.def(&cfg)
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
		configs[c.Name] = strings.Join(items, ",")
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
