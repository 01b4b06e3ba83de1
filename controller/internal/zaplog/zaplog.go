// Package zaplog routes the zap logs of etcd's server and client into
// zerolog, so that kafkad has one log stream with one format. etcd logs
// through zap only; without this bridge it would print its own JSON lines to
// stderr, including routine noise on shutdown.
package zaplog

import (
	"github.com/rs/zerolog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Demote reports whether an entry etcd logs at warn or above is in fact
// routine (a known benign message, or anything while shutting down) and
// should be written at debug level instead.
type Demote func(e zapcore.Entry, fields []zapcore.Field) bool

// New returns a zap logger that writes entries at min or above to logger,
// at debug level those for which demote (if not nil) returns true. Fields
// added with zap's With are kept, as etcd uses them for context such as
// the member id.
func New(logger zerolog.Logger, min zapcore.Level, demote Demote) *zap.Logger {
	return zap.New(&core{log: logger, min: min, demote: demote})
}

// core is a zapcore.Core writing into a zerolog.Logger.
type core struct {
	log    zerolog.Logger
	min    zapcore.Level
	demote Demote
	fields []zapcore.Field
}

func (c *core) Enabled(l zapcore.Level) bool { return l >= c.min }

func (c *core) With(fields []zapcore.Field) zapcore.Core {
	merged := make([]zapcore.Field, 0, len(c.fields)+len(fields))
	merged = append(merged, c.fields...)
	merged = append(merged, fields...)
	return &core{log: c.log, min: c.min, demote: c.demote, fields: merged}
}

func (c *core) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *core) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	// WithLevel never exits or panics, unlike zerolog's Fatal and Panic:
	// zap itself decides what a fatal entry does after Write returns.
	lvl := level(e.Level)
	if c.demote != nil && c.demote(e, fields) {
		lvl = zerolog.DebugLevel
	}
	ev := c.log.WithLevel(lvl)
	if e.LoggerName != "" {
		ev = ev.Str("logger", e.LoggerName)
	}
	ev.Fields(enc.Fields).Msg(e.Message)
	return nil
}

func (c *core) Sync() error { return nil }

func level(l zapcore.Level) zerolog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return zerolog.DebugLevel
	case l == zapcore.InfoLevel:
		return zerolog.InfoLevel
	case l == zapcore.WarnLevel:
		return zerolog.WarnLevel
	case l == zapcore.FatalLevel:
		return zerolog.FatalLevel
	case l == zapcore.PanicLevel:
		return zerolog.PanicLevel
	default: // error and DPanic
		return zerolog.ErrorLevel
	}
}
