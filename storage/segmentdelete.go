package storage

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// deletedSuffix marks the files of a segment that retention or
// DeleteRecords removed from the log and that wait file.delete.delay.ms
// before they are deleted, as Kafka names them.
const deletedSuffix = ".deleted"

// retiredSegment is the renamed files of a removed segment and when they
// go.
type retiredSegment struct {
	paths []string
	due   time.Time
}

// retireSegment removes a segment the log no longer lists: with a
// file.delete.delay.ms its files are renamed to *.deleted and deleted
// by deleteRetired once the delay is over, else at once. Readers never
// see a retired segment (it left l.segments under segMu first), so the
// delay only postpones when the disk space comes back, as in Kafka.
// Called with l.mu held.
func (l *Log) retireSegment(s *LogSegment, now time.Time, delayMs int64) error {
	if delayMs <= 0 {
		return s.remove()
	}
	err := s.close()
	r := retiredSegment{due: now.Add(time.Duration(delayMs) * time.Millisecond)}
	for _, p := range s.filePaths() {
		if rerr := os.Rename(p, p+deletedSuffix); rerr == nil {
			r.paths = append(r.paths, p+deletedSuffix)
		} else if !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, fmt.Errorf("storage: rename %s: %w", p, rerr))
		}
	}
	l.retired = append(l.retired, r)
	return err
}

func (s *LogSegment) filePaths() []string {
	return []string{s.logPath, s.index.file.path, s.timeIndex.file.path, s.txnIndex.path}
}

// deleteRetired deletes the retired segment files whose delay is over;
// the manager calls it periodically.
func (l *Log) deleteRetired(now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	kept := l.retired[:0]
	for _, r := range l.retired {
		if now.Before(r.due) {
			kept = append(kept, r)
			continue
		}
		for _, p := range r.paths {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("storage: remove %s: %w", p, err))
			}
		}
	}
	clear(l.retired[len(kept):])
	l.retired = kept
	return errors.Join(errs...)
}
