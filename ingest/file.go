package ingest

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ReadFile parses one file within the default Limits and returns all of
// it in one batch. The error is for I/O failures only; bad content is
// reported in the batch's Problems.
func ReadFile(path string) (Batch, error) {
	c := collector{out: Batch{Source: path}}
	err := streamFile(context.Background(), path, Limits{}, c.add)
	return c.batch(), err
}

// IsEventFile reports whether a file name looks like CloudTrail data:
// .json, .jsonl, .ndjson, optionally gzipped, and not hidden.
func IsEventFile(name string) bool {
	base := filepath.Base(name)
	if strings.HasPrefix(base, ".") {
		return false
	}
	base = strings.TrimSuffix(base, ".gz")
	for _, ext := range []string{".json", ".jsonl", ".ndjson"} {
		if strings.HasSuffix(base, ext) {
			return true
		}
	}
	return strings.HasSuffix(name, ".gz")
}

// Walk parses the given files and directories, in sorted order, within
// lim, calling fn with each file's records. A file is handed over in
// batches of consecutive records (same Source, in file order) so that
// memory stays flat however large it is; a file that yields nothing is
// not handed over. Directories are read recursively, skipping hidden files
// and directories and files that are not event files; paths named
// explicitly are read whatever their name. Walk stops at the first error
// from fn, an I/O error or the end of ctx.
func Walk(ctx context.Context, paths []string, lim Limits, fn func(Batch) error) error {
	sorted := slices.Clone(paths)
	slices.Sort(sorted)
	for _, p := range sorted {
		files, err := eventFiles(p)
		if err != nil {
			return err
		}
		for _, f := range files {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := streamFile(ctx, f, lim, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// eventFiles lists the event files under root in lexical order; root itself
// if it is a file.
func eventFiles(root string) ([]string, error) {
	info, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("walk %s: %w", root, err)
	}
	if !info.IsDir() {
		return []string{root}, nil
	}
	var files []string
	// WalkDir visits entries in lexical order, which makes the order of
	// records across files reproducible.
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walk %s: %w", path, err)
		}
		if path != root && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !IsEventFile(d.Name()) {
			return nil
		}
		regular := d.Type().IsRegular()
		if d.Type()&fs.ModeSymlink != 0 {
			// A link to a file counts; links to directories are not
			// followed, which also rules out cycles.
			info, err := os.Stat(path)
			regular = err == nil && info.Mode().IsRegular()
		}
		if regular {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return files, nil
}
