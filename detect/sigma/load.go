package sigma

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Load reads every rule file (*.yml, *.yaml) under the directories dirs of
// fsys, recursively, in name order. Rules with a problem are left out and
// every problem is returned, named by its path in fsys; a directory that
// cannot be read is a problem too, so nothing is skipped silently. Ids
// repeated across files are reported by Compile.
func Load(fsys fs.FS, dirs []string) (Rules, []Problem) {
	var l loader
	for _, dir := range dirs {
		l.tree(fsys, path.Clean(dir), func(p string) string { return p })
	}
	return l.rules, l.problems
}

// LoadDirs is Load for directories (or single rule files) of the operating
// system, named in problems as they were given.
func LoadDirs(dirs []string) (Rules, []Problem) {
	var l loader
	for _, dir := range dirs {
		info, err := os.Stat(dir)
		if err != nil {
			l.problems = append(l.problems, Problem{File: dir, Line: 0, Construct: "rules directory", Message: pathError(err)})
			continue
		}
		if !info.IsDir() {
			parent, base := filepath.Split(dir)
			if parent == "" {
				parent = "."
			}
			l.file(os.DirFS(parent), base, dir)
			continue
		}
		l.tree(os.DirFS(dir), ".", func(p string) string { return filepath.Join(dir, filepath.FromSlash(p)) })
	}
	return l.rules, l.problems
}

type loader struct {
	rules    Rules
	problems []Problem
}

func (l *loader) tree(fsys fs.FS, root string, name func(string) string) {
	var files []string
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			l.problems = append(l.problems, Problem{File: name(p), Construct: "rules directory", Message: pathError(err)})
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !d.IsDir() && isRuleFile(p) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		l.problems = append(l.problems, Problem{File: name(root), Construct: "rules directory", Message: pathError(err)})
	}
	sort.Strings(files)
	// Files are parsed on every core (YAML parsing is most of a start
	// with a hundred rules) and their results kept in name order.
	parsed := make([]loader, len(files))
	workers := min(runtime.GOMAXPROCS(0), len(files))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(files); i = int(next.Add(1)) - 1 {
				parsed[i].file(fsys, files[i], name(files[i]))
			}
		})
	}
	wg.Wait()
	for i := range parsed {
		l.rules = append(l.rules, parsed[i].rules...)
		l.problems = append(l.problems, parsed[i].problems...)
	}
}

func (l *loader) file(fsys fs.FS, p, shown string) {
	data, err := fs.ReadFile(fsys, p)
	if err != nil {
		l.problems = append(l.problems, Problem{File: shown, Construct: "rule file", Message: pathError(err)})
		return
	}
	rules, problems := Parse(shown, data)
	l.rules = append(l.rules, rules...)
	l.problems = append(l.problems, problems...)
}

func isRuleFile(p string) bool {
	ext := strings.ToLower(path.Ext(p))
	return ext == ".yml" || ext == ".yaml"
}

// pathError says what went wrong without repeating the path, which the
// problem already names.
func pathError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Sprintf("cannot %s: %v", pe.Op, pe.Err)
	}
	return err.Error()
}
