package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/asagent/asagent/internal/trust"
)

// Problem is one thing wrong with a configuration file, located by file,
// line and dotted key path (launch.checks[0].interval).
type Problem struct {
	File string
	Line int // 0 when the problem has no single place (a missing key)
	Key  string
	Msg  string
}

func (p Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Key != "" {
		b.WriteString(p.Key + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is every problem found in one load, in file and line order. The
// agent refuses to start on any of them; `asagent validate` prints them all.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Load reads the agent configuration at path. A missing file at
// DefaultPath is not an error: it yields Default(), since an instance with
// an agency needs no file. Anywhere else a missing file is a problem: a
// path someone named is a file they meant, and a typo in it must not make
// the agent run on the defaults (the real metadata address). Any other
// problem is returned as Problems too.
func Load(path string) (*Config, error) {
	data, err := readTrusted(path)
	if errors.Is(err, fs.ErrNotExist) && path == DefaultPath {
		return Default(), nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, Problems{{File: path, Msg: "no such file; only the default " + DefaultPath + " may be missing"}}
	}
	if err != nil {
		return nil, Problems{{File: path, Msg: err.Error()}}
	}
	return Parse(path, data)
}

// readTrusted reads agent.yaml at path by the rules of package trust: it
// can do more than any drop-in (insecure_dropins, include_dir, exec
// checks), so it and every directory and symlink on the way to it must
// belong to root or the agent's user and be writable by no one else, and it
// is read from the descriptor that was checked. The rules always apply:
// insecure_dropins is read from this very file. A missing file (under
// trusted directories) wraps fs.ErrNotExist.
func readTrusted(path string) ([]byte, error) {
	f, err := trust.Agent(false).Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, errors.New(refusal(err, "agent.yaml decides what the agent runs as root"))
	}
	defer f.Close()
	return io.ReadAll(f)
}

// Parse parses and validates agent.yaml content; name is used in messages.
func Parse(name string, data []byte) (*Config, error) {
	cfg := Default()
	d := &document{file: name, lines: map[string]int{}}
	root := d.parse(data)
	if root != nil {
		d.decodeInto(root, reflect.ValueOf(cfg).Elem())
	}
	if root != nil || len(d.problems) == 0 {
		// Validate even after schema problems, so one run lists them all;
		// a value that did not decode kept its default and passes.
		cfg.Launch.Checks = d.fillChecks("launch", cfg.Launch)
		cfg.Terminate.Checks = d.fillChecks("terminate", cfg.Terminate)
		d.validate(cfg)
	}
	return cfg, d.err()
}

// dropIn is the schema of a YAML file in include_dir: checks only, so a
// package cannot change how the agent talks to the cloud.
type dropIn struct {
	Launch    dropInPhase `yaml:"launch"`
	Terminate dropInPhase `yaml:"terminate"`
}

type dropInPhase struct {
	Checks []Check `yaml:"checks"`
}

// dropInPattern selects the YAML drop-ins; like run-parts, anything else
// (editor backups, *.dpkg-old) is ignored.
var dropInPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]+\.ya?ml$`)

// LoadDropIns reads the YAML drop-ins in dir (*.yaml and *.yml, in lexical
// order). A file with any problem is left out whole and reported in errs;
// the others still load. A missing dir is no error. Interval and Timeout are
// left zero when a check does not set them: pass each check through its
// phase's WithDefaults. Unless insecure, dir, every directory and symlink
// on the way to it and each file must belong to root (or the agent's user)
// and be writable by no one else (see package trust), since a drop-in's
// exec checks run as the agent; each file is read from the descriptor that
// was checked. Every error is a Problems naming the file, or dir itself.
func LoadDropIns(dir string, insecure bool) (launch, terminate []Check, errs []error) {
	if dir == "" {
		return nil, nil, nil
	}
	policy := trust.Agent(insecure)
	if err := policy.Dir(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, nil
		}
		return nil, nil, []error{Problems{{File: dir, Msg: refusal(err, dropInHint)}}}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, []error{Problems{{File: dir, Msg: err.Error()}}}
	}
	for _, e := range entries {
		if !dropInPattern.MatchString(e.Name()) || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		l, t, err := loadDropIn(path, policy)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		launch = append(launch, l...)
		terminate = append(terminate, t...)
	}
	return launch, terminate, errs
}

// dropInHint follows a drop-in's refusal.
const dropInHint = "its checks run as the agent; set insecure_dropins for development"

// refusal is the message for a file or directory that the trust rules
// refused, with hint on why they apply; other errors say what they say.
func refusal(err error, hint string) string {
	var te *trust.Error
	if errors.As(err, &te) && te.Err == nil {
		return "refused: " + err.Error() + " (only root or the agent's user may be able to change it: " + hint + ")"
	}
	return err.Error()
}

func loadDropIn(path string, policy trust.Policy) (launch, terminate []Check, err error) {
	f, err := policy.Open(path)
	if err != nil {
		return nil, nil, Problems{{File: path, Msg: refusal(err, dropInHint)}}
	}
	data, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return nil, nil, Problems{{File: path, Msg: err.Error()}}
	}
	var di dropIn
	d := &document{file: path, lines: map[string]int{}}
	if root := d.parse(data); root != nil {
		d.decodeInto(root, reflect.ValueOf(&di).Elem())
	}
	if len(d.problems) == 0 {
		// Validate with defaults filled in, but return the checks as written
		// so the phase's current Interval and Timeout apply.
		def := Default()
		for _, ph := range []struct {
			name   string
			checks []Check
			phase  Phase
		}{{"launch", di.Launch.Checks, def.Launch}, {"terminate", di.Terminate.Checks, def.Terminate}} {
			d.stampChecks(ph.name, ph.checks)
			for i, c := range ph.checks {
				d.validateCheck(fmt.Sprintf("%s.checks[%d]", ph.name, i), ph.phase.WithDefaults(c))
			}
			d.uniqueNames(ph.name, ph.checks)
		}
	}
	if err := d.err(); err != nil {
		return nil, nil, err
	}
	return di.Launch.Checks, di.Terminate.Checks, nil
}

// maxValues bounds the values the walk visits in one file, aliases
// expanded: a real configuration has hundreds, while a few kilobytes of
// aliases of aliases expand to millions, which took minutes and gigabytes
// before yaml.v3's own guard would have stopped them.
const maxValues = 100_000

// document is one file being loaded: its problems and, for every key path
// seen, the line it is on.
type document struct {
	file     string
	lines    map[string]int
	problems Problems
	values   int      // visited by the walk, aliases expanded
	secrets  []string // values of secret keys, never shown in a problem
}

func (d *document) add(key, format string, args ...any) {
	d.problems = append(d.problems, Problem{File: d.file, Line: d.lineOf(key), Key: key, Msg: fmt.Sprintf(format, args...)})
}

// tooBig counts one more value and reports whether the file has more than
// maxValues; the first time, it records the problem.
func (d *document) tooBig(n *yaml.Node) bool {
	d.values++
	if d.values == maxValues+1 {
		d.problems = append(d.problems, Problem{File: d.file, Line: n.Line,
			Msg: fmt.Sprintf("more than %d values once aliases are expanded: refused, as a small file must not take minutes to load", maxValues)})
	}
	return d.values > maxValues
}

// redact hides the values of secret keys in msg: a problem may quote a
// value (yaml.v3's own messages do), and the journal must never hold a
// secret.
func (d *document) redact(msg string) string {
	for _, s := range d.secrets {
		msg = strings.ReplaceAll(msg, "`"+s+"`", "`<secret>`")
		msg = strings.ReplaceAll(msg, strconv.Quote(s), `"<secret>"`)
		if len(s) >= 4 {
			msg = strings.ReplaceAll(msg, s, "<secret>")
		}
	}
	return msg
}

// lineOf is the line of key or, for a key that is missing, of the nearest
// enclosing key that is present (a check without a name: the check's line).
func (d *document) lineOf(key string) int {
	for key != "" {
		if line, ok := d.lines[key]; ok {
			return line
		}
		key = key[:max(strings.LastIndexAny(key, ".["), 0)]
	}
	return 0
}

func (d *document) err() error {
	if len(d.problems) == 0 {
		return nil
	}
	for i := range d.problems {
		d.problems[i].Msg = d.redact(d.problems[i].Msg)
	}
	sort.SliceStable(d.problems, func(i, j int) bool { return d.problems[i].Line < d.problems[j].Line })
	return d.problems
}

// yamlLine finds the "line N:" yaml.v3 puts in its syntax errors.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// parse turns data into a node tree; an empty document yields nil.
func (d *document) parse(data []byte) *yaml.Node {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if err.Error() == "EOF" {
			return nil
		}
		msg := err.Error()
		line := 0
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = msg[len(m[0]):]
		} else {
			msg = strings.TrimPrefix(msg, "yaml: ")
		}
		d.problems = append(d.problems, Problem{File: d.file, Line: line, Msg: "invalid YAML: " + msg})
		return nil
	}
	if len(doc.Content) == 0 {
		return nil
	}
	return doc.Content[0]
}

// decodeInto checks the tree against v's type (unknown keys, wrong kinds,
// unparseable values), recording every key's line and reporting each problem
// by key, then decodes into v. Defaults already in v survive for absent keys
// and for values that did not decode.
func (d *document) decodeInto(root *yaml.Node, v reflect.Value) {
	before := len(d.problems)
	d.walk(root, v.Type(), "")
	if d.values > maxValues {
		return // yaml.v3 would expand the same aliases again
	}
	err := root.Decode(v.Addr().Interface())
	var te *yaml.TypeError
	if err != nil && !(errors.As(err, &te) && len(d.problems) > before) {
		// The walk should have seen whatever yaml.v3 rejects; say it anyway.
		d.problems = append(d.problems, Problem{File: d.file, Msg: err.Error()})
	}
}

var (
	durationType = reflect.TypeOf(Duration(0))
	secretType   = reflect.TypeOf(Secret(""))
)

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (d *document) walk(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if d.tooBig(n) {
		return
	}
	if t == secretType && !d.secret(n, path) {
		return
	}
	if path != "" {
		if _, seen := d.lines[path]; !seen {
			d.lines[path] = n.Line
		}
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // "key:" with no value leaves the default
	}
	switch {
	case t == durationType:
		if n.Kind != yaml.ScalarNode {
			d.add(path, "must be a duration such as 30s or 5m")
			return
		}
		dur, err := time.ParseDuration(n.Value)
		if err != nil {
			d.add(path, "must be a duration such as 30s or 5m, not %q", n.Value)
		} else if dur < 0 {
			d.add(path, "must not be negative")
		}
	case t.Kind() == reflect.Struct:
		d.walkStruct(n, t, path)
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.add(path, "must be a list")
			return
		}
		for i, item := range n.Content {
			if d.values > maxValues {
				return
			}
			d.walk(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.add(path, "must be a mapping of names to values")
			return
		}
		for i := 0; i+1 < len(n.Content) && d.values <= maxValues; i += 2 {
			d.walk(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value))
		}
	default:
		d.walkScalar(n, t, path)
	}
}

// secret notes the value of a secret key, so that no problem shows it,
// and reports whether it is a plain string, as it must be.
func (d *document) secret(n *yaml.Node, path string) bool {
	if n.Kind != yaml.ScalarNode || n.Value == "" {
		return true
	}
	d.secrets = append(d.secrets, n.Value)
	if n.Style&yaml.TaggedStyle == 0 || n.Tag == "!!str" {
		return true
	}
	d.add(path, "must be a plain string, not tagged %s (the value is not shown: it is secret)", n.Tag)
	// Decode it as the string it must be: yaml.v3 would stop the whole
	// decode on the tag with a message quoting the value.
	n.Tag = "!!str"
	return false
}

func (d *document) walkStruct(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.MappingNode {
		d.add(path, "must be a mapping with keys %s", strings.Join(yamlKeys(t), ", "))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content) && d.values <= maxValues; i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := join(path, k.Value)
		d.lines[key] = k.Line
		if seen[k.Value] {
			d.add(key, "set twice")
			continue
		}
		seen[k.Value] = true
		f, ok := fieldByTag(t, k.Value)
		if !ok {
			msg := "unknown key"
			if path != "" {
				msg += fmt.Sprintf(" in %s", path)
			}
			d.add(key, "%s; allowed: %s", msg, strings.Join(yamlKeys(t), ", "))
			continue
		}
		d.walk(v, f.Type, key)
	}
}

func (d *document) walkScalar(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.ScalarNode {
		d.add(path, "must be a single value, not a list or mapping")
		return
	}
	var want string
	switch t.Kind() {
	case reflect.Bool:
		if n.Tag != "!!bool" {
			want = "true or false"
		}
	case reflect.Int:
		if n.Tag != "!!int" {
			want = "a whole number"
		}
	case reflect.Float64:
		if n.Tag != "!!int" && n.Tag != "!!float" {
			want = "a number"
		}
	}
	if want != "" {
		d.add(path, "must be %s, not %q", want, n.Value)
	}
}

func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if tag := strings.Split(f.Tag.Get("yaml"), ",")[0]; tag == key && tag != "-" {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		if tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]; tag != "" && tag != "-" {
			keys = append(keys, tag)
		}
	}
	return keys
}

// UnmarshalYAML reads a duration written as "90s" or "1h30m".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		// A TypeError lets yaml.v3 go on decoding the rest of the file.
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is not a duration such as 30s or 5m", n.Line, n.Value)}}
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes a duration the way a person would ("1h0m0s" -> "1h").
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// String formats d like time.Duration but without zero units: 1h, 90s, 1h30m.
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
