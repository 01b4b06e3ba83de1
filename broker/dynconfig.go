package broker

// Dynamic broker configs (KIP-226): broker keys changed at run time with
// IncrementalAlterConfigs or AlterConfigs on a BROKER resource, for one
// broker ("<id>") or the whole cluster ("", kafka-configs.sh
// --entity-default). They live in the metadata store, so every broker
// sees them and a restarted broker applies them before it serves.
//
// Precedence, as in Kafka: a topic override, then the broker's own
// dynamic value, then the cluster-wide dynamic default, then
// server.properties, then Kafka's default. The effective broker
// configuration is rebuilt from the static one whenever a stored set
// changes and published atomically; readers take a snapshot.

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kafkad/kafkad/controller/metastore"
)

// kafkaError is an error whose text is exactly what Kafka answers,
// mapped to the wire code of the sentinel it wraps.
type kafkaError struct {
	sentinel error
	msg      string
}

func (e *kafkaError) Error() string { return e.msg }
func (e *kafkaError) Unwrap() error { return e.sentinel }

func invalidRequestf(format string, args ...any) error {
	return &kafkaError{errInvalidRequest, fmt.Sprintf(format, args...)}
}

func invalidConfigf(format string, args ...any) error {
	return &kafkaError{errInvalidConfig, fmt.Sprintf(format, args...)}
}

// dynamicKey is one broker config kafkad changes at run time.
type dynamicKey struct {
	name string
	typ  kmsg.ConfigType
	// set parses v (already checked against typ) into c, with the same
	// bounds as at start-up.
	set func(c *Config, v string) error
	// get formats c's value; nil: the topic config table's def.
	get func(c *Config) string
	doc string
}

// throttleUnlimited is the replication throttle rates' default
// (Long.MAX_VALUE in Kafka): no throttle.
const throttleUnlimited = math.MaxInt64

// dynamicKeys is every dynamic broker config kafkad applies, by name.
var dynamicKeys = buildDynamicKeys()

func buildDynamicKeys() map[string]*dynamicKey {
	m := map[string]*dynamicKey{}
	// Log defaults: the broker synonym of every topic config that has
	// one. The topic config table parses them, so a broker default and
	// a topic override accept the same values.
	for i := range topicConfigs {
		tc := &topicConfigs[i]
		if tc.brokerKey == "" {
			continue
		}
		m[tc.brokerKey] = &dynamicKey{name: tc.brokerKey, typ: tc.typ, doc: tc.doc,
			set: func(c *Config, v string) error { return tc.apply(&c.Log, v) },
			get: func(c *Config) string { return tc.def(c) }}
	}
	m["log.retention.ms"].set = func(c *Config, v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return err
		}
		c.Log.RetentionMs = max(n, -1) // any negative value keeps forever
		return nil
	}
	also := func(name string, extra func(c *Config, v string)) {
		k := m[name]
		set := k.set
		k.set = func(c *Config, v string) error {
			if err := set(c, v); err != nil {
				return err
			}
			extra(c, v)
			return nil
		}
	}
	also("log.cleanup.policy", func(c *Config, v string) { c.CleanupPolicy = strings.Join(splitList(v), ",") })
	also("compression.type", func(c *Config, v string) { c.CompressionType = strings.TrimSpace(v) })
	also("message.max.bytes", func(c *Config, _ string) { c.MessageMaxBytes = c.Log.MaxMessageBytes })
	also("min.insync.replicas", func(c *Config, v string) {
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
		c.MinInsyncReplicas = int32(n)
	})

	add := func(k dynamicKey) { m[k.name] = &k }
	add(dynamicKey{name: "log.cleaner.threads", typ: kmsg.ConfigTypeInt,
		set: intKey(1, math.MaxInt32, func(c *Config, n int64) { c.Cleaner.Threads = int(n) }),
		get: func(c *Config) string { return itoa(int64(c.Cleaner.Threads)) }})
	add(dynamicKey{name: "log.cleaner.backoff.ms", typ: kmsg.ConfigTypeLong,
		set: intKey(0, math.MaxInt64, func(c *Config, n int64) { c.Cleaner.BackoffMs = n }),
		get: func(c *Config) string { return itoa(c.Cleaner.BackoffMs) }})
	add(dynamicKey{name: "log.cleaner.dedupe.buffer.size", typ: kmsg.ConfigTypeLong,
		set: intKey(0, math.MaxInt64, func(c *Config, n int64) { c.Cleaner.DedupeBufferSize = n }),
		get: func(c *Config) string { return itoa(c.Cleaner.DedupeBufferSize) }})
	add(dynamicKey{name: "log.cleaner.io.buffer.size", typ: kmsg.ConfigTypeInt,
		set: intKey(0, math.MaxInt32, func(c *Config, n int64) { c.Cleaner.IOBufferSize = int32(n) }),
		get: func(c *Config) string { return itoa(int64(c.Cleaner.IOBufferSize)) }})
	add(dynamicKey{name: "log.cleaner.io.buffer.load.factor", typ: kmsg.ConfigTypeDouble,
		set: floatKey(0, 1, func(c *Config, f float64) { c.Cleaner.IOBufferLoadFactor = f }),
		get: func(c *Config) string { return ftoa(c.Cleaner.IOBufferLoadFactor) }})
	add(dynamicKey{name: "log.cleaner.io.max.bytes.per.second", typ: kmsg.ConfigTypeDouble,
		set: floatKey(0, math.MaxFloat64, func(c *Config, f float64) { c.Cleaner.IOMaxBytesPerSecond = f }),
		get: func(c *Config) string { return ftoa(c.Cleaner.IOMaxBytesPerSecond) }})
	add(dynamicKey{name: "leader.replication.throttled.rate", typ: kmsg.ConfigTypeLong,
		doc: "bytes/s a leader sends to followers of its throttled replicas (leader.replication.throttled.replicas)",
		set: intKey(0, math.MaxInt64, func(c *Config, n int64) { c.LeaderReplicationThrottledRate = n }),
		get: func(c *Config) string { return itoa(c.LeaderReplicationThrottledRate) }})
	add(dynamicKey{name: "follower.replication.throttled.rate", typ: kmsg.ConfigTypeLong,
		doc: "bytes/s a follower fetches for its throttled replicas (follower.replication.throttled.replicas)",
		set: intKey(0, math.MaxInt64, func(c *Config, n int64) { c.FollowerReplicationThrottledRate = n }),
		get: func(c *Config) string { return itoa(c.FollowerReplicationThrottledRate) }})
	addConnectionKeys(add)
	return m
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func intKey(min, max int64, set func(*Config, int64)) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return err
		}
		if n < min || n > max {
			return fmt.Errorf("Value must be at least %d", min)
		}
		set(c, n)
		return nil
	}
}

func floatKey(min, max float64, set func(*Config, float64)) func(*Config, string) error {
	return func(c *Config, v string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return err
		}
		if f < min || f > max {
			return fmt.Errorf("Value must be between %g and %g", min, max)
		}
		set(c, f)
		return nil
	}
}

// typeName is Kafka's name of a config type in "Not a number of type
// LONG".
func typeName(t kmsg.ConfigType) string {
	switch t {
	case kmsg.ConfigTypeInt:
		return "INT"
	case kmsg.ConfigTypeLong:
		return "LONG"
	case kmsg.ConfigTypeDouble:
		return "DOUBLE"
	case kmsg.ConfigTypeBoolean:
		return "BOOLEAN"
	case kmsg.ConfigTypeList:
		return "LIST"
	}
	return "STRING"
}

// checkType parses v as t the way Kafka's ConfigDef does.
func checkType(t kmsg.ConfigType, v string) error {
	v = strings.TrimSpace(v)
	var err error
	switch t {
	case kmsg.ConfigTypeInt:
		_, err = strconv.ParseInt(v, 10, 32)
	case kmsg.ConfigTypeLong:
		_, err = strconv.ParseInt(v, 10, 64)
	case kmsg.ConfigTypeDouble:
		_, err = strconv.ParseFloat(v, 64)
	case kmsg.ConfigTypeBoolean:
		if v != "true" && v != "false" {
			return errors.New("Expected value to be either true or false")
		}
	}
	if err != nil {
		return fmt.Errorf("Not a number of type %s", typeName(t))
	}
	return nil
}

// setDynamic parses one dynamic key's value into c.
func setDynamic(c *Config, name, v string) error {
	k, ok := dynamicKeys[name]
	if !ok {
		return invalidConfigf("Unknown dynamic broker config: %s", name)
	}
	err := checkType(k.typ, v)
	if err == nil {
		err = k.set(c, v)
	}
	if err != nil {
		// Kafka's ConfigException text, without our sentinel prefixes.
		msg := err.Error()
		if _, after, found := strings.Cut(msg, errInvalidConfig.Error()+": "); found {
			msg = after
		}
		return invalidRequestf("Invalid value %s for configuration %s: %s", v, name, msg)
	}
	return nil
}

// brokerConfigs holds the dynamic broker configs this broker applies and
// the effective configuration they give.
type brokerConfigs struct {
	static    Config
	perBroker atomic.Pointer[map[string]string] // this broker's entity
	defaults  atomic.Pointer[map[string]string] // the cluster-wide entity
	live      atomic.Pointer[Config]
}

func newBrokerConfigs(static Config) *brokerConfigs {
	bc := &brokerConfigs{static: static}
	empty := map[string]string{}
	bc.perBroker.Store(&empty)
	bc.defaults.Store(&empty)
	c := static
	bc.live.Store(&c)
	return bc
}

// current is the effective configuration; callers must not change it.
func (bc *brokerConfigs) current() *Config { return bc.live.Load() }

func (bc *brokerConfigs) brokerSet() map[string]string  { return *bc.perBroker.Load() }
func (bc *brokerConfigs) defaultSet() map[string]string { return *bc.defaults.Load() }

// effective overlays the dynamic default set, then the per-broker set, on
// the static configuration. A stored value that does not parse (written
// by something other than a validating broker) is skipped and reported.
func effective(static Config, defaults, perBroker map[string]string) (Config, []error) {
	c := static
	var errs []error
	for _, set := range []map[string]string{defaults, perBroker} {
		for _, name := range sortedKeys(set) {
			if err := setDynamic(&c, name, set[name]); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return c, errs
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// update publishes new sets and returns the effective configuration
// before and after.
func (bc *brokerConfigs) update(defaults, perBroker map[string]string, log zerolog.Logger) (old, now *Config) {
	if defaults == nil {
		defaults = map[string]string{}
	}
	if perBroker == nil {
		perBroker = map[string]string{}
	}
	c, errs := effective(bc.static, defaults, perBroker)
	for _, err := range errs {
		log.Warn().Err(err).Msg("ignoring a stored dynamic broker config")
	}
	bc.defaults.Store(&defaults)
	bc.perBroker.Store(&perBroker)
	return bc.live.Swap(&c), &c
}

// source tells where the effective value of broker key name comes from.
func (bc *brokerConfigs) source(name string) kmsg.ConfigSource {
	if _, ok := bc.brokerSet()[name]; ok {
		return kmsg.ConfigSourceDynamicBrokerConfig
	}
	if _, ok := bc.defaultSet()[name]; ok {
		return kmsg.ConfigSourceDynamicDefaultBrokerConfig
	}
	for _, syn := range brokerSynonyms(name) {
		if _, ok := bc.static.StaticConfigs[syn]; ok {
			return kmsg.ConfigSourceStaticBrokerConfig
		}
	}
	return kmsg.ConfigSourceDefaultConfig
}

// brokerSynonyms lists the broker keys that set the same value, highest
// precedence first (Kafka's DynamicBrokerConfig.brokerConfigSynonyms).
func brokerSynonyms(name string) []string {
	switch name {
	case "log.retention.ms", "log.retention.minutes", "log.retention.hours":
		return []string{"log.retention.ms", "log.retention.minutes", "log.retention.hours"}
	case "log.roll.ms", "log.roll.hours":
		return []string{"log.roll.ms", "log.roll.hours"}
	case "log.flush.interval.ms":
		return []string{"log.flush.interval.ms", "log.flush.scheduler.interval.ms"}
	}
	return []string{name}
}

// synonyms is the chain Kafka reports for broker key name: the dynamic
// per-broker and default values, every static synonym, then the default.
// perBroker false keeps only the dynamic default (describing the "" entity).
func (bc *brokerConfigs) synonyms(name string, def string, perBroker bool) []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	var out []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
	if v, ok := bc.brokerSet()[name]; ok && perBroker {
		out = append(out, synonym(name, v, kmsg.ConfigSourceDynamicBrokerConfig))
	}
	if v, ok := bc.defaultSet()[name]; ok {
		out = append(out, synonym(name, v, kmsg.ConfigSourceDynamicDefaultBrokerConfig))
	}
	if !perBroker {
		return out
	}
	for _, syn := range brokerSynonyms(name) {
		if v, ok := bc.static.StaticConfigs[syn]; ok {
			out = append(out, synonym(syn, v, kmsg.ConfigSourceStaticBrokerConfig))
		}
	}
	out = append(out, synonym(name, def, kmsg.ConfigSourceDefaultConfig))
	// A static log.retention.ms outranks a static log.retention.hours:
	// describing the latter starts at its own entry, as Kafka does.
	for out[0].Name != name { // the last entry is name's own
		out = out[1:]
	}
	return out
}

// kafkaDefault is Kafka's default of a dynamic key, for the synonym chain.
func kafkaDefault(name string) string {
	d := DefaultConfig()
	if k, ok := dynamicKeys[name]; ok {
		return k.get(&d)
	}
	return ""
}

// validateBrokerSet checks a whole new set for entity: every key must be
// dynamic in Kafka and known to kafkad, every value parse. cur is the
// effective configuration the change would replace (for the log cleaner's
// thread count rule).
func validateBrokerSet(set map[string]string, staticKeys func(string) bool, cur *Config) error {
	var readOnly []string
	for _, name := range sortedKeys(set) {
		if _, ok := dynamicKeys[name]; ok {
			continue
		}
		if staticKeys(name) {
			readOnly = append(readOnly, name)
			continue
		}
		return invalidConfigf("Unknown broker config %s: kafkad cannot update it dynamically", name)
	}
	if len(readOnly) > 0 {
		return invalidRequestf("Cannot update these configs dynamically: Set(%s)", strings.Join(readOnly, ", "))
	}
	scratch := *cur
	for _, name := range sortedKeys(set) {
		if err := setDynamic(&scratch, name, set[name]); err != nil {
			return err
		}
	}
	if v, ok := set["log.cleaner.threads"]; ok {
		n, _ := strconv.Atoi(strings.TrimSpace(v))
		curThreads := cur.Cleaner.Threads
		switch {
		case n < curThreads/2:
			return invalidRequestf("Log cleaner threads cannot be reduced to less than half the current value %d", curThreads)
		case n > curThreads*2:
			return invalidRequestf("Log cleaner threads cannot be increased to more than double the current value %d", curThreads)
		}
	}
	return nil
}

// brokerEntity checks a BROKER resource name of an alter request: "" (the
// cluster default) or this broker's id, as Kafka's ConfigAdminManager.
func (b *Broker) brokerEntity(name string) (string, error) {
	if name == "" {
		return metastore.DefaultBrokerEntity, nil
	}
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil {
		return "", invalidRequestf("Node id must be an integer, but it is: %s", name)
	}
	if int32(id) != b.cfg.BrokerID {
		return "", invalidRequestf("Unexpected broker id, expected %d, but received %s", b.cfg.BrokerID, name)
	}
	return metastore.BrokerEntity(b.cfg.BrokerID), nil
}

// isStaticKey reports whether name is a broker config kafkad knows from
// server.properties (a read-only key when altered dynamically).
func (b *Broker) isStaticKey(name string) bool {
	if _, ok := b.cfg.StaticConfigs[name]; ok {
		return true
	}
	for _, k := range b.cfg.StaticKeys {
		if k == name {
			return true
		}
	}
	return false
}

// liveConfig is the effective broker configuration now.
func (b *Broker) liveConfig() *Config { return b.dyn.current() }

// loadBrokerConfigs reads the stored sets and applies them: to every
// local log's settings, the log cleaner and the replication throttles.
func (b *Broker) loadBrokerConfigs() {
	b.dynMu.Lock()
	defer b.dynMu.Unlock()
	old, now := b.dyn.update(b.store.BrokerConfigs(metastore.DefaultBrokerEntity),
		b.store.BrokerConfigs(metastore.BrokerEntity(b.cfg.BrokerID)), b.log)
	if old.Cleaner != now.Cleaner {
		b.logs.SetCleanerConfig(now.Cleaner)
		if old.Cleaner.Threads != now.Cleaner.Threads {
			b.log.Info().Int("from", old.Cleaner.Threads).Int("to", now.Cleaner.Threads).
				Msgf("log cleaner threads %d → %d", old.Cleaner.Threads, now.Cleaner.Threads)
		}
	}
	b.throttle.setRates(now.LeaderReplicationThrottledRate, now.FollowerReplicationThrottledRate)
	if old.Log != now.Log || old.MinInsyncReplicas != now.MinInsyncReplicas {
		b.log.Info().Interface("dynamic_default", b.dyn.defaultSet()).Interface("dynamic_broker", b.dyn.brokerSet()).
			Msg("broker log defaults changed; updating every local log")
		b.refreshPartitions()
	}
}

// refreshPartitions reapplies the store's view, with the effective
// broker defaults now, to every open partition: its log settings and
// min.insync.replicas. b.mu orders it with openPartition.
func (b *Broker) refreshPartitions() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for tp, part := range b.parts {
		t, ok := b.store.Topic(tp.Topic)
		if !ok || t.ID != part.topicID || !t.HasPartition(tp.Partition) {
			continue // the topic watch deals with it
		}
		b.updatePartition(part, t, t.Partitions[tp.Partition])
	}
}

// watchBrokerConfigs applies every change of the stored sets until the
// broker stops.
func (b *Broker) watchBrokerConfigs(changed <-chan struct{}) {
	for {
		select {
		case <-changed:
			b.loadBrokerConfigs()
		case <-b.ctx.Done():
			return
		}
	}
}
