package ingest

import "fmt"

// Whoever can write into the trail bucket or the watched directory
// controls the input: a 2 MB gzip file can expand to gigabytes, a line can
// be endless, a log file can be one record of whitespace. These caps bound
// what one file or object may cost; input that breaks one becomes a
// Problem saying which cap and how far reading got, and the rest of the
// input is still read.
const (
	// DefaultMaxFileBytes bounds what one gzip file or object may expand
	// to: deflate reaches about 1,000:1, and a gigabyte is already far
	// beyond the largest CloudTrail log file.
	DefaultMaxFileBytes int64 = 1 << 30
	// DefaultMaxRecordBytes bounds one record. CloudTrail caps an event at
	// 256 KB, or 1 MB for a trail set to large events, and an EventBridge
	// event is at most 256 KB; this leaves twice the largest.
	DefaultMaxRecordBytes = 2 << 20
	// DefaultMaxLineBytes bounds one JSON Lines line, and a document that
	// is not a log file (an EventBridge event, a bare record, a digest),
	// which is held whole. A line may be a whole log file.
	DefaultMaxLineBytes = 8 << 20
	// DefaultMaxProblems bounds the problems kept per file or object: each
	// becomes a row in quarantine, and a file of a million broken
	// one-byte lines must not become a million rows.
	DefaultMaxProblems = 1000
)

// Limits caps what reading one file, object or payload may cost. Zero
// fields take the defaults above, so the zero value is safe.
type Limits struct {
	// MaxFileBytes is the most one gzip file or object may decompress
	// to. Reading stops there; what was read before is kept. Plain files
	// are not capped: they cost no more to read than they take on disk,
	// and memory does not grow with their size.
	MaxFileBytes int64
	// MaxRecordBytes is the largest record (an element of a log file's
	// Records, a bare record, an EventBridge event's detail), and the
	// most whitespace allowed between two records of a log file. A larger
	// record is skipped without being held in memory; the records after
	// it are read.
	MaxRecordBytes int
	// MaxLineBytes is the longest JSON Lines line, and the largest
	// single document that is not a log file. A longer line is skipped
	// without being held; the lines after it are read. A longer document
	// stops the file.
	MaxLineBytes int
	// MaxProblems is how many problems one file or object reports one by
	// one; the rest are counted in a last problem.
	MaxProblems int
}

func (l Limits) withDefaults() Limits {
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = DefaultMaxFileBytes
	}
	if l.MaxRecordBytes <= 0 {
		l.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if l.MaxLineBytes <= 0 {
		l.MaxLineBytes = DefaultMaxLineBytes
	}
	if l.MaxProblems <= 0 {
		l.MaxProblems = DefaultMaxProblems
	}
	return l
}

// recordSize is about what one decoded record costs beyond its bytes
// (cloudtrail.Record is 464 bytes on 64-bit platforms, plus the unit that
// points at it).
const recordSize = 512

// StreamMemory is the most memory one Stream holds at once under these
// limits: the blocks it reads ahead, the longest line or document it may
// carry, and one batch of decoded records with their bytes. A caller that
// runs streams side by side reserves this much for each from a shared
// budget.
func (l Limits) StreamMemory() int64 {
	l = l.withDefaults()
	ahead := int64(readAhead+1) * blockSize
	carry := int64(l.MaxLineBytes) + blockSize + 2*int64(l.MaxRecordBytes)
	batch := int64(blockSize) + int64(l.MaxLineBytes) + maxBatchUnits*recordSize
	return ahead + carry + batch
}

// Reasons name the cap by its configuration key, so that an operator who
// sees one in quarantine knows what to raise.

func fileCapReason(l Limits, records int) string {
	return fmt.Sprintf("decompressed data exceeds the max_file_bytes cap of %d bytes; stopped reading there, after %d records", l.MaxFileBytes, records)
}

func lineCapReason(l Limits) string {
	return fmt.Sprintf("line is longer than the max_line_bytes cap of %d bytes; skipped", l.MaxLineBytes)
}

func documentCapReason(l Limits) string {
	return fmt.Sprintf("document is larger than the max_line_bytes cap of %d bytes and is not a CloudTrail log file; stopped reading", l.MaxLineBytes)
}

func recordCapReason(l Limits, n int) string {
	return fmt.Sprintf("record %d of the log file is larger than the max_record_bytes cap of %d bytes; skipped", n, l.MaxRecordBytes)
}

func spaceCapReason(l Limits, where string) string {
	return fmt.Sprintf("more whitespace than the max_record_bytes cap of %d bytes %s of the log file; skipped", l.MaxRecordBytes, where)
}

func problemsCapReason(l Limits, dropped int) string {
	return fmt.Sprintf("%d more problems in this input were not kept (max_problems cap of %d)", dropped, l.MaxProblems)
}
