package main

// SASL settings: which listeners authenticate, with which mechanisms, the
// PLAIN users of a listener's JAAS line, and --add-scram credentials.

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/rs/zerolog"

	"github.com/kafkad/kafkad/controller/metastore"
	"github.com/kafkad/kafkad/sasl"
)

// SASLListener has broker.SASLListener's exact fields so main can convert.
type SASLListener struct {
	Mechanisms []string          // enabled mechanisms
	PlainUsers map[string]string // user_<name>="password" of the PLAIN JAAS line
}

// ScramAdd is one --add-scram credential, as kafka-storage format takes it:
// 'SCRAM-SHA-256=[name=alice,password=alice-secret]' (also iterations=,
// salt= in base64).
type ScramAdd struct {
	Mechanism  string
	User       string
	Password   string
	Salt       []byte // nil: random
	Iterations int
}

// isListenerSASLKey accepts sasl.enabled.mechanisms (Kafka default
// GSSAPI), connections.max.reauth.ms (default 0),
// sasl.mechanism.inter.broker.protocol (default GSSAPI) and Kafka's
// per-listener SASL keys. They are outside the options
// table because the per-listener ones have open names.
// The per-listener keys are
// listener.name.<l>.sasl.enabled.mechanisms and
// listener.name.<l>.<mechanism>.sasl.jaas.config.
func isListenerSASLKey(key string) bool {
	_, _, ok := parseListenerSASLKey(key)
	return ok || key == "sasl.enabled.mechanisms" || key == "sasl.mechanism.inter.broker.protocol" ||
		key == "connections.max.reauth.ms"
}

// parseListenerSASLKey splits a per-listener key into the listener name
// (upper case) and the rest ("sasl.enabled.mechanisms" or
// "<mechanism>.sasl.jaas.config").
func parseListenerSASLKey(key string) (listener, rest string, ok bool) {
	tail, ok := strings.CutPrefix(key, "listener.name.")
	if !ok {
		return "", "", false
	}
	name, rest, ok := strings.Cut(tail, ".")
	if !ok || name == "" {
		return "", "", false
	}
	if rest == "sasl.enabled.mechanisms" {
		return strings.ToUpper(name), rest, true
	}
	if mech, ok := strings.CutSuffix(rest, ".sasl.jaas.config"); ok && mech != "" && !strings.Contains(mech, ".") {
		return strings.ToUpper(name), rest, true
	}
	return "", "", false
}

// resolveSASL builds every SASL_PLAINTEXT listener's settings. Kafka
// fails at start-up when an enabled mechanism cannot be served (GSSAPI
// without Kerberos, say); kafkad does the same for the mechanisms it does
// not implement rather than let clients fail later.
func (b *builder) resolveSASL(values map[string]string) error {
	if v, ok := values["connections.max.reauth.ms"]; ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("connections.max.reauth.ms=%q: %w: want a non-negative number of ms", v, ErrInvalidValue)
		}
		b.cfg.ConnectionsMaxReauthMs = n
	}
	for k := range values {
		if l, _, ok := parseListenerSASLKey(k); ok && !slices.ContainsFunc(b.cfg.Listeners, func(x Listener) bool { return x.Name == l }) {
			return fmt.Errorf("%s: %w: %s is not one of the listeners", k, ErrInvalidValue, l)
		}
	}
	if len(b.saslListeners) == 0 {
		return b.resolveInterBroker(values)
	}
	b.cfg.SASL = map[string]SASLListener{}
	for _, l := range b.saslListeners {
		prefix := "listener.name." + strings.ToLower(l) + "."
		// Kafka's default is GSSAPI, which kafkad refuses below.
		key, mechs := "sasl.enabled.mechanisms", []string{"GSSAPI"}
		if v, ok := values[key]; ok {
			mechs = upperList(v)
		}
		if v, ok := lookupFold(values, prefix+"sasl.enabled.mechanisms"); ok {
			key, mechs = prefix+"sasl.enabled.mechanisms", upperList(v)
		}
		if len(mechs) == 0 {
			return fmt.Errorf("%s: %w: listener %s is SASL_PLAINTEXT but enables no mechanism", key, ErrInvalidValue, l)
		}
		for _, m := range mechs {
			if !sasl.IsSupported(m) {
				return fmt.Errorf("%s: %w: listener %s enables %s; kafkad supports %s", key, ErrInvalidValue, l, m, strings.Join(sasl.Supported, ", "))
			}
		}
		sl := SASLListener{Mechanisms: mechs}
		if v, ok := lookupFold(values, prefix+"plain.sasl.jaas.config"); ok {
			opts, err := parseJAAS(v)
			if err != nil {
				return fmt.Errorf("%splain.sasl.jaas.config: %w", prefix, err)
			}
			sl.PlainUsers = map[string]string{}
			for k, v := range opts {
				if u, ok := strings.CutPrefix(k, "user_"); ok && u != "" {
					sl.PlainUsers[u] = v
				}
			}
		}
		b.cfg.SASL[l] = sl
	}
	return b.resolveInterBroker(values)
}

// saslKeyDocs describes the SASL keys, which are parsed apart from the
// options table (their names carry listener and mechanism names), for
// README's configuration reference.
var saslKeyDocs = []struct{ key, def, doc string }{
	{"sasl.enabled.mechanisms", "GSSAPI", "mechanisms of the SASL_PLAINTEXT listeners: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (GSSAPI and OAUTHBEARER are refused at start-up)"},
	{"listener.name.<listener>.sasl.enabled.mechanisms", "sasl.enabled.mechanisms", "the same for one listener"},
	{"listener.name.<listener>.plain.sasl.jaas.config", "none", "PLAIN users as user_<name>=\"<password>\" entries, checked besides the SCRAM credentials in etcd"},
	{"listener.name.<listener>.<mechanism>.sasl.jaas.config", "none", "on the inter-broker listener: the username and password this broker logs in to other brokers with"},
	{"inter.broker.listener.name", "the first listener", "listener other brokers reach this one on (replication, transaction markers)"},
	{"sasl.mechanism.inter.broker.protocol", "GSSAPI", "mechanism brokers log in to each other with when the inter-broker listener is SASL"},
	{"connections.max.reauth.ms", "0", "a SASL session ends after this long unless the client re-authenticates (KIP-368); 0: never"},
}

// InterBrokerConfig has broker.InterBrokerConfig's exact fields.
type InterBrokerConfig struct {
	Listener  string // inter.broker.listener.name
	Mechanism string // sasl.mechanism.inter.broker.protocol, on a SASL listener
	Username  string // from listener.name.<l>.<mechanism>.sasl.jaas.config
	Password  string
}

// resolveInterBroker checks inter.broker.listener.name as Kafka does and,
// for a SASL listener, finds the broker's own login: the mechanism must
// be enabled on that listener and its JAAS line must carry username and
// password.
func (b *builder) resolveInterBroker(values map[string]string) error {
	b.cfg.Ignored = slices.DeleteFunc(b.cfg.Ignored, func(k string) bool { return k == "inter.broker.listener.name" })
	v, ok := values["inter.broker.listener.name"]
	if !ok {
		return nil
	}
	name := strings.ToUpper(strings.TrimSpace(v))
	if !slices.ContainsFunc(b.cfg.AdvertisedListeners, func(l Listener) bool { return l.Name == name }) {
		return fmt.Errorf("inter.broker.listener.name: %w: %s must be a listener name defined in advertised.listeners", ErrInvalidValue, name)
	}
	b.cfg.InterBroker.Listener = name
	sl, isSASL := b.cfg.SASL[name]
	if !isSASL {
		return nil
	}
	mech := "GSSAPI"
	if m, ok := values["sasl.mechanism.inter.broker.protocol"]; ok {
		mech = strings.ToUpper(strings.TrimSpace(m))
	}
	if !slices.Contains(sl.Mechanisms, mech) {
		return fmt.Errorf("sasl.mechanism.inter.broker.protocol: %w: %s must be included in the enabled mechanisms of listener %s when SASL is used for inter-broker communication", ErrInvalidValue, mech, name)
	}
	key := "listener.name." + strings.ToLower(name) + "." + strings.ToLower(mech) + ".sasl.jaas.config"
	jaas, ok := lookupFold(values, key)
	if !ok {
		return fmt.Errorf("%s: %w: the broker needs it (username, password) to log in to other brokers on %s", key, ErrInvalidValue, name)
	}
	opts, err := parseJAAS(jaas)
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	if opts["username"] == "" || opts["password"] == "" {
		return fmt.Errorf("%s: %w: username and password are required for inter-broker SASL", key, ErrInvalidValue)
	}
	b.cfg.InterBroker.Mechanism, b.cfg.InterBroker.Username, b.cfg.InterBroker.Password = mech, opts["username"], opts["password"]
	return nil
}

// lookupFold finds key with the listener name in any case (Kafka writes
// it lower case; listener names are upper case here).
func lookupFold(values map[string]string, key string) (string, bool) {
	for _, k := range slices.Sorted(maps.Keys(values)) {
		if strings.EqualFold(k, key) {
			return values[k], true
		}
	}
	return "", false
}

// parseJAAS parses one JAAS entry as Kafka's sasl.jaas.config takes it:
// `<LoginModule class> <required|requisite|sufficient|optional> key="value" ... ;`
// and returns its options. Values are double-quoted (with \" and \\
// escapes) or bare tokens.
func parseJAAS(v string) (map[string]string, error) {
	s := strings.TrimSpace(v)
	rest, ok := strings.CutSuffix(s, ";")
	if !ok {
		return nil, fmt.Errorf("%w: JAAS config must end with ';'", ErrInvalidValue)
	}
	fields := strings.Fields(rest)
	if len(fields) < 2 {
		return nil, fmt.Errorf("%w: JAAS config needs a login module and a control flag", ErrInvalidValue)
	}
	switch strings.ToLower(fields[1]) {
	case "required", "requisite", "sufficient", "optional":
	default:
		return nil, fmt.Errorf("%w: JAAS control flag %q", ErrInvalidValue, fields[1])
	}
	i := strings.Index(rest, fields[1]) + len(fields[1])
	opts := map[string]string{}
	p := strings.TrimSpace(rest[i:])
	for p != "" {
		eq := strings.IndexByte(p, '=')
		if eq <= 0 {
			return nil, fmt.Errorf("%w: JAAS option %q is not key=value", ErrInvalidValue, p)
		}
		key := strings.TrimSpace(p[:eq])
		p = strings.TrimLeft(p[eq+1:], " \t")
		var val string
		if strings.HasPrefix(p, `"`) {
			var b strings.Builder
			j := 1
			for ; j < len(p) && p[j] != '"'; j++ {
				if p[j] == '\\' && j+1 < len(p) {
					j++
				}
				b.WriteByte(p[j])
			}
			if j >= len(p) {
				return nil, fmt.Errorf("%w: JAAS option %s has an unterminated quote", ErrInvalidValue, key)
			}
			val, p = b.String(), p[j+1:]
		} else {
			end := strings.IndexAny(p, " \t\n")
			if end < 0 {
				end = len(p)
			}
			val, p = p[:end], p[end:]
		}
		opts[key] = val
		p = strings.TrimSpace(p)
	}
	return opts, nil
}

// takeAddScram removes every --add-scram from args (it repeats, unlike
// the key=value flags) and parses them.
func takeAddScram(args []string) ([]string, []ScramAdd, error) {
	var rest []string
	var adds []ScramAdd
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "add-scram" {
			rest = append(rest, a)
			continue
		}
		if !hasValue {
			if i+1 == len(args) {
				return nil, nil, fmt.Errorf("%w: flag --add-scram needs a value", ErrSyntax)
			}
			i++
			value = args[i]
		}
		add, err := parseAddScram(value)
		if err != nil {
			return nil, nil, fmt.Errorf("--add-scram %q: %w", value, err)
		}
		adds = append(adds, add)
	}
	return rest, adds, nil
}

// parseAddScram parses 'SCRAM-SHA-256=[name=alice,password=secret]'.
func parseAddScram(v string) (ScramAdd, error) {
	mech, body, ok := strings.Cut(v, "=")
	mech = strings.ToUpper(strings.TrimSpace(mech))
	body, okBr := strings.CutPrefix(strings.TrimSpace(body), "[")
	body, okEnd := strings.CutSuffix(body, "]")
	if !ok || !okBr || !okEnd {
		return ScramAdd{}, fmt.Errorf("%w: want MECHANISM=[name=...,password=...]", ErrInvalidValue)
	}
	if mech != sasl.ScramSHA256 && mech != sasl.ScramSHA512 {
		return ScramAdd{}, fmt.Errorf("%w: mechanism %s is not SCRAM-SHA-256 or SCRAM-SHA-512", ErrInvalidValue, mech)
	}
	add := ScramAdd{Mechanism: mech, Iterations: sasl.DefaultIterations}
	for _, kv := range strings.Split(body, ",") {
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			return ScramAdd{}, fmt.Errorf("%w: %q is not key=value", ErrInvalidValue, kv)
		}
		val = strings.Trim(strings.TrimSpace(val), `"`)
		switch strings.TrimSpace(k) {
		case "name":
			add.User = val
		case "password":
			add.Password = val
		case "salt":
			salt, err := base64.StdEncoding.DecodeString(val)
			if err != nil {
				return ScramAdd{}, fmt.Errorf("%w: salt is not base64", ErrInvalidValue)
			}
			add.Salt = salt
		case "iterations":
			n, err := strconv.Atoi(val)
			if err != nil || n < sasl.MinIterations || n > sasl.MaxIterations {
				return ScramAdd{}, fmt.Errorf("%w: iterations must be %d-%d", ErrInvalidValue, sasl.MinIterations, sasl.MaxIterations)
			}
			add.Iterations = n
		default:
			return ScramAdd{}, fmt.Errorf("%w: unknown attribute %q", ErrInvalidValue, k)
		}
	}
	if add.User == "" || add.Password == "" {
		return ScramAdd{}, fmt.Errorf("%w: name and password are required", ErrInvalidValue)
	}
	return add, nil
}

// addScramCredentials stores each --add-scram credential unless the user
// already has one for that mechanism, as kafka-storage format --add-scram
// does on a fresh cluster: a restart never resets a changed password.
func addScramCredentials(ctx context.Context, store *metastore.Store, adds []ScramAdd, logger zerolog.Logger) error {
	for _, a := range adds {
		c := sasl.NewCredential(a.Mechanism, a.Password, a.Salt, a.Iterations)
		wrote, err := store.PutScramCredential(ctx, a.User, a.Mechanism,
			metastore.ScramCredential{Salt: c.Salt, Iterations: c.Iterations, StoredKey: c.StoredKey, ServerKey: c.ServerKey}, true)
		if err != nil {
			return fmt.Errorf("--add-scram %s for %s: %w", a.Mechanism, a.User, err)
		}
		if wrote {
			logger.Info().Str("user", a.User).Str("mechanism", a.Mechanism).Msg("added SCRAM credential")
		}
	}
	return nil
}
