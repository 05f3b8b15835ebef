package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v4"
)

// decoder fills a Config from the nodes of a YAML document and from
// SECOPS_* variables. It reads the nodes rather than a decoded map so that
// it knows the line of every key, and it records a problem for every value
// it cannot read instead of stopping at the first: an operator fixes a
// file in one go.
type decoder struct {
	// file names the YAML in sources; empty for text without a file.
	file string
	// sources says where each key was set: "config.yaml:12" or
	// "SECOPS_INGEST_POLL_INTERVAL".
	sources map[string]string
	// refused are the keys whose value could not be read; the field kept
	// its default, and problems validation finds with it are not news.
	refused  map[string]bool
	problems []Problem
}

func newDecoder(file string) *decoder {
	return &decoder{file: file, sources: map[string]string{}, refused: map[string]bool{}}
}

// at names a line of the YAML.
func (d *decoder) at(line int) string {
	if d.file == "" {
		return fmt.Sprintf("line %d", line)
	}
	return fmt.Sprintf("%s:%d", d.file, line)
}

func (d *decoder) refuse(key, source, format string, args ...any) {
	d.refused[key] = true
	d.problems = append(d.problems, Problem{Key: key, Source: source, Msg: fmt.Sprintf(format, args...)})
}

// maxDepth bounds how many aliases deep, and how deeply nested, a value
// may be, so that an alias that refers to itself ends.
const maxDepth = 32

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < maxDepth; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// document decodes the root of a YAML document into cfg.
func (d *decoder) document(doc *yaml.Node, cfg *Config) {
	if doc == nil || doc.Kind == 0 || len(doc.Content) == 0 {
		return
	}
	root := resolve(doc.Content[0])
	if isNull(root) {
		return
	}
	if root.Kind != yaml.MappingNode {
		d.problems = append(d.problems, Problem{Source: d.at(root.Line),
			Msg: fmt.Sprintf("the configuration is %s; it must be a block of keys such as slack:, teams: and accounts: (see config.example.yaml)", shape(root))})
		return
	}
	d.value(root, reflect.ValueOf(cfg).Elem(), "", 0)
}

var durationType = reflect.TypeOf(time.Duration(0))

// value decodes n into v, the field at key.
func (d *decoder) value(n *yaml.Node, v reflect.Value, key string, depth int) {
	n = resolve(n)
	if isNull(n) {
		// An empty value keeps the default, as if the key were absent.
		return
	}
	if depth > maxDepth {
		d.refuse(key, d.at(n.Line), "nested too deep")
		return
	}
	switch {
	case v.Kind() == reflect.Pointer:
		elem := reflect.New(v.Type().Elem())
		d.value(n, elem.Elem(), key, depth+1)
		if !d.refused[key] {
			v.Set(elem)
		}
	case v.Kind() == reflect.Struct:
		d.structure(n, v, key, depth)
	case v.Kind() == reflect.Map:
		d.mapping(n, v, key, depth)
	case v.Kind() == reflect.Slice:
		d.list(n, v, key, depth)
	case n.Kind != yaml.ScalarNode:
		d.refuse(key, d.at(n.Line), "got %s, want %s", shape(n), want(v.Type()))
	default:
		if msg := setScalar(v, n.Value); msg != "" {
			d.refuse(key, d.at(n.Line), "%s", scalarProblem(n.Value, msg))
		}
	}
}

// structure decodes a block of keys into a struct, matching keys to the
// fields' yaml tags without regard to case.
func (d *decoder) structure(n *yaml.Node, v reflect.Value, key string, depth int) {
	if n.Kind != yaml.MappingNode {
		d.refuse(key, d.at(n.Line), "got %s, want a block of keys (%s)", shape(n), strings.Join(fieldNames(v.Type()), ", "))
		return
	}
	fields := map[string]int{}
	for i := 0; i < v.NumField(); i++ {
		if name := tagName(v.Type().Field(i)); name != "" {
			fields[name] = i
		}
	}
	seen := map[string]int{}
	for _, kv := range pairs(n) {
		name := strings.ToLower(kv.key.Value)
		k := join(key, name)
		i, ok := fields[name]
		if !ok {
			d.refuse(k, d.at(kv.key.Line), "%s", unknownKey(name, fieldNames(v.Type())))
			continue
		}
		if line, dup := seen[name]; dup {
			d.refuse(k, d.at(kv.key.Line), "set twice in this block (first at line %d); keep one", line)
			continue
		}
		seen[name] = kv.key.Line
		d.sources[k] = d.at(kv.key.Line)
		d.value(kv.value, v.Field(i), k, depth+1)
	}
}

// mapping decodes a block of keys into a map; the keys are kept as
// written (a tag key is case-sensitive in AWS).
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, key string, depth int) {
	if n.Kind != yaml.MappingNode {
		d.refuse(key, d.at(n.Line), "got %s, want a block of keys", shape(n))
		return
	}
	m := reflect.MakeMap(v.Type())
	seen := map[string]int{}
	for _, kv := range pairs(n) {
		name := kv.key.Value
		k := join(key, name)
		if line, dup := seen[name]; dup {
			d.refuse(k, d.at(kv.key.Line), "set twice in this block (first at line %d); keep one", line)
			continue
		}
		seen[name] = kv.key.Line
		d.sources[k] = d.at(kv.key.Line)
		elem := reflect.New(v.Type().Elem()).Elem()
		d.value(kv.value, elem, k, depth+1)
		m.SetMapIndex(reflect.ValueOf(name).Convert(v.Type().Key()), elem)
	}
	v.Set(m)
}

// list decodes a sequence into a slice. A single value where a list of
// text is expected is read as a comma-separated list ("a,b"), as an
// environment variable would carry one.
func (d *decoder) list(n *yaml.Node, v reflect.Value, key string, depth int) {
	if n.Kind == yaml.ScalarNode && v.Type().Elem().Kind() == reflect.String {
		items := []string{}
		if n.Value != "" {
			items = strings.Split(n.Value, ",")
		}
		s := reflect.MakeSlice(v.Type(), len(items), len(items))
		for i, it := range items {
			s.Index(i).SetString(strings.TrimSpace(it))
		}
		v.Set(s)
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.refuse(key, d.at(n.Line), "got %s, want a list such as [a, b] or one \"- item\" per line", shape(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		k := fmt.Sprintf("%s[%d]", key, i)
		d.sources[k] = d.at(item.Line)
		d.value(item, s.Index(i), k, depth+1)
	}
	v.Set(s)
}

type pair struct{ key, value *yaml.Node }

// pairs lists a mapping's keys and values, with the keys of merged
// mappings (<<: *defaults) first so that the mapping's own keys win.
func pairs(n *yaml.Node) []pair {
	return mergedPairs(n, map[*yaml.Node]bool{n: true})
}

// mergedPairs is pairs that merges each mapping once, so that a mapping
// merging itself ends.
func mergedPairs(n *yaml.Node, merging map[*yaml.Node]bool) []pair {
	var merged, own []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.Tag == "!!merge" {
			for _, m := range mergeSources(resolve(val)) {
				if merging[m] {
					continue
				}
				merging[m] = true
				for _, p := range mergedPairs(m, merging) {
					if !hasKey(n, p.key.Value) {
						merged = append(merged, p)
					}
				}
			}
			continue
		}
		own = append(own, pair{k, val})
	}
	return append(merged, own...)
}

func mergeSources(n *yaml.Node) []*yaml.Node {
	switch {
	case n == nil:
		return nil
	case n.Kind == yaml.MappingNode:
		return []*yaml.Node{n}
	case n.Kind == yaml.SequenceNode:
		var out []*yaml.Node
		for _, c := range n.Content {
			if c = resolve(c); c != nil && c.Kind == yaml.MappingNode {
				out = append(out, c)
			}
		}
		return out
	}
	return nil
}

func hasKey(n *yaml.Node, key string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key && n.Content[i].Tag != "!!merge" {
			return true
		}
	}
	return false
}

// env applies SECOPS_* overrides to every key that holds a single value
// (lists and blocks come from the file only).
func (d *decoder) env(cfg *Config, lookup func(string) (string, bool)) {
	walkScalars(reflect.ValueOf(cfg).Elem(), "", func(key string, v reflect.Value) {
		name := EnvVar(key)
		text, ok := lookup(name)
		if !ok {
			return
		}
		d.sources[key] = name
		if msg := setScalar(v, text); msg != "" {
			d.refuse(key, name, "%s", scalarProblem(text, msg))
		}
	})
}

// EnvVar is the environment variable that sets key: SECOPS_ and the key in
// upper case with dots as underscores.
func EnvVar(key string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// walkScalars calls fn for every field under v that holds a single value.
func walkScalars(v reflect.Value, prefix string, fn func(key string, v reflect.Value)) {
	for i := 0; i < v.NumField(); i++ {
		name := tagName(v.Type().Field(i))
		if name == "" {
			continue
		}
		f, key := v.Field(i), join(prefix, name)
		switch f.Kind() {
		case reflect.Struct:
			walkScalars(f, key, fn)
		case reflect.Slice, reflect.Map, reflect.Pointer:
		default:
			fn(key, f)
		}
	}
}

// setScalar reads text into v; on failure it returns what was wanted.
// Empty text is the zero value, as an empty variable unsets a setting.
func setScalar(v reflect.Value, text string) string {
	if v.Type() == durationType {
		d, err := parseConfigDuration(text)
		if err != nil {
			return err.Error()
		}
		v.SetInt(int64(d))
		return ""
	}
	if text == "" && v.Kind() != reflect.String {
		v.SetZero()
		return ""
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(text)
	case reflect.Bool:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return want(v.Type())
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		i, err := strconv.ParseInt(strings.ReplaceAll(text, "_", ""), 10, 64)
		if err != nil {
			return want(v.Type())
		}
		v.SetInt(i)
	case reflect.Float64:
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return want(v.Type())
		}
		v.SetFloat(f)
	default:
		return want(v.Type())
	}
	return ""
}

// errNoUnit is a duration written as a bare number.
var errNoUnit = errors.New("no unit")

// parseConfigDuration is ParseDuration that refuses a bare number: "2"
// could mean seconds or minutes, and reading it as either silently is how
// a poll interval ends up a thousand times off.
func parseConfigDuration(text string) (time.Duration, error) {
	t := strings.TrimSpace(text)
	if t != "" && t != "0" {
		if _, err := strconv.ParseFloat(t, 64); err == nil {
			return 0, errNoUnit
		}
	}
	d, err := ParseDuration(t)
	if err != nil {
		return 0, errors.New(want(durationType))
	}
	return d, nil
}

// scalarProblem says what is wrong with a value: the value, and what was
// wanted. Only keys that hold text can hold a secret, and text is never
// refused here, so a token is never repeated.
func scalarProblem(text string, msg string) string {
	if msg == errNoUnit.Error() {
		n := strings.TrimSpace(text)
		return fmt.Sprintf("%s has no unit; write %ss for seconds (or %sm, %sh, %sd): a bare number is not read as seconds", n, n, n, n, n)
	}
	if r := []rune(text); len(r) > 60 {
		text = string(r[:60]) + "…"
	}
	return fmt.Sprintf("got %q, want %s", text, msg)
}

// want describes the values a field takes.
func want(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration with a unit, such as 30s, 5m, 12h or 30d"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.Int || t.Kind() == reflect.Int64:
		return "a whole number, such as 4"
	case t.Kind() == reflect.Float64:
		return "a number, such as 0.03"
	case t.Kind() == reflect.String:
		return "a single value (text)"
	case t.Kind() == reflect.Slice:
		return "a list"
	}
	return "a block of keys"
}

// shape names what a node holds, for "got …".
func shape(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a block of keys"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

func tagName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

func fieldNames(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		if n := tagName(t.Field(i)); n != "" {
			out = append(out, n)
		}
	}
	return out
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// unknownKey refuses a key the block does not have, suggesting the one
// it most likely meant.
func unknownKey(name string, known []string) string {
	const msg = "unknown key; remove it or check its spelling against config.example.yaml"
	// A suggestion is worth making for a slip of one or two letters, not
	// for a short key that resembles everything.
	best, bestDist := "", min(3, (len(name)+1)/2)
	for _, k := range known {
		if dist := editDistance(name, k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	if best != "" {
		return fmt.Sprintf("unknown key (did you mean %s?); remove it or check its spelling against config.example.yaml", best)
	}
	return msg
}

// editDistance is the Levenshtein distance between two short keys.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// syntaxProblem turns a YAML parse error into a problem at the line where
// the text goes wrong, not the start of the block around it.
func (d *decoder) syntaxProblem(err error, text []byte) Problem {
	var le *yaml.LoadError
	if !errors.As(err, &le) {
		return Problem{Source: d.file, Msg: fmt.Sprintf("not valid YAML: %v", err)}
	}
	line, col := le.Mark.Line, le.Mark.Column
	msg := le.Message
	hint := "; check the indentation and quotes"
	ctx := strings.TrimPrefix(le.ContextMsg, "while ")
	switch {
	case strings.Contains(ctx, "quoted scalar") && strings.Contains(msg, "end of stream"):
		// The quote opened there is never closed: that is where to look,
		// not the end of the file.
		line, col = le.ContextMark.Line, le.ContextMark.Column
		msg, hint = "this quoted value is never closed", "; add the closing quote"
	case ctx != "" && le.ContextMark.Line > 0 && le.ContextMark.Line != line:
		msg = fmt.Sprintf("%s (in the %s that starts at line %d)", msg, yamlContext(ctx), le.ContextMark.Line)
	}
	if line == 0 {
		return Problem{Source: d.file, Msg: "not valid YAML: " + msg}
	}
	if lines := strings.Split(string(text), "\n"); line <= len(lines) && strings.Contains(lines[line-1], "\t") {
		hint = "; YAML indents with spaces, never tabs"
	}
	src := fmt.Sprintf("line %d, column %d", line, col)
	if d.file != "" {
		src = fmt.Sprintf("%s:%d:%d", d.file, line, col)
	}
	return Problem{Source: src, Msg: "not valid YAML: " + msg + hint}
}

// yamlContext names the construct a YAML error happened in, in the words
// of this configuration.
func yamlContext(ctx string) string {
	switch ctx {
	case "parsing a block mapping", "parsing a flow mapping":
		return "block of keys"
	case "parsing a block collection", "parsing a flow sequence":
		return "list"
	}
	return strings.TrimPrefix(ctx, "parsing a ")
}
