//go:build race

package ingest

// raceDetector is set when the tests run with the race detector, which
// makes byte-by-byte scanning of large inputs many times slower.
const raceDetector = true
