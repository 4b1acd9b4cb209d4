package caddymodule

import (
	"fmt"
	"io"
	"log"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// zapHCLog re-logs what a plugin writes through the host's zap logger,
// under the plugin's name: go-plugin parses the plugin's hclog JSON lines
// and calls this logger with each entry's level, message and fields.
type zapHCLog struct {
	z    *zap.Logger
	name string
	args []any
}

func newZapHCLog(z *zap.Logger) hclog.Logger { return &zapHCLog{z: z} }

func (l *zapHCLog) fields(args []any) []zap.Field {
	all := append(append([]any{}, l.args...), args...)
	out := make([]zap.Field, 0, len(all)/2+1)
	for i := 0; i < len(all); i += 2 {
		key := fmt.Sprint(all[i])
		if i+1 >= len(all) {
			out = append(out, zap.Any("extra", all[i]))
			break
		}
		out = append(out, zap.Any(key, all[i+1]))
	}
	return out
}

func zapLevel(level hclog.Level) zapcore.Level {
	switch level {
	case hclog.Trace, hclog.Debug:
		return zap.DebugLevel
	case hclog.Warn:
		return zap.WarnLevel
	case hclog.Error:
		return zap.ErrorLevel
	}
	return zap.InfoLevel
}

func (l *zapHCLog) Log(level hclog.Level, msg string, args ...any) {
	if ce := l.z.Check(zapLevel(level), msg); ce != nil {
		ce.Write(l.fields(args)...)
	}
}

func (l *zapHCLog) Trace(msg string, args ...any) { l.Log(hclog.Trace, msg, args...) }
func (l *zapHCLog) Debug(msg string, args ...any) { l.Log(hclog.Debug, msg, args...) }
func (l *zapHCLog) Info(msg string, args ...any)  { l.Log(hclog.Info, msg, args...) }
func (l *zapHCLog) Warn(msg string, args ...any)  { l.Log(hclog.Warn, msg, args...) }
func (l *zapHCLog) Error(msg string, args ...any) { l.Log(hclog.Error, msg, args...) }

func (l *zapHCLog) IsTrace() bool { return l.z.Core().Enabled(zap.DebugLevel) }
func (l *zapHCLog) IsDebug() bool { return l.z.Core().Enabled(zap.DebugLevel) }
func (l *zapHCLog) IsInfo() bool  { return l.z.Core().Enabled(zap.InfoLevel) }
func (l *zapHCLog) IsWarn() bool  { return l.z.Core().Enabled(zap.WarnLevel) }
func (l *zapHCLog) IsError() bool { return l.z.Core().Enabled(zap.ErrorLevel) }

func (l *zapHCLog) ImpliedArgs() []any { return l.args }

func (l *zapHCLog) With(args ...any) hclog.Logger {
	return &zapHCLog{z: l.z, name: l.name, args: append(append([]any{}, l.args...), args...)}
}

func (l *zapHCLog) Name() string { return l.name }

func (l *zapHCLog) Named(name string) hclog.Logger {
	n := name
	if l.name != "" {
		n = l.name + "." + name
	}
	return &zapHCLog{z: l.z.Named(name), name: n, args: l.args}
}

func (l *zapHCLog) ResetNamed(name string) hclog.Logger {
	return &zapHCLog{z: l.z.Named(name), name: name, args: l.args}
}

// SetLevel is ignored: the host's zap configuration decides.
func (l *zapHCLog) SetLevel(hclog.Level) {}

func (l *zapHCLog) GetLevel() hclog.Level {
	switch {
	case l.IsDebug():
		return hclog.Debug
	case l.IsInfo():
		return hclog.Info
	case l.IsWarn():
		return hclog.Warn
	}
	return hclog.Error
}

func (l *zapHCLog) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(l.StandardWriter(opts), "", 0)
}

func (l *zapHCLog) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return zap.NewStdLog(l.z).Writer()
}

var _ hclog.Logger = (*zapHCLog)(nil)
