package sim

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// docsPath is the simulator's user documentation.
var docsPath = filepath.Join("..", "..", "docs", "simulator.md")

// docs/simulator.md names every key of the scenario file, and every
// example in it is a scenario the simulator accepts: the page cannot fall
// behind the format.
func TestDocsDescribeTheScenarioFile(t *testing.T) {
	data, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	for _, key := range scenarioKeys(reflect.TypeOf(Scenario{}), "") {
		if !strings.Contains(doc, "`"+key+"`") {
			t.Errorf("docs/simulator.md does not describe the scenario key %s", key)
		}
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(doc, -1)
	if len(blocks) < 8 {
		t.Fatalf("found %d yaml examples, want one per feature", len(blocks))
	}
	for i, b := range blocks {
		sc, err := ParseScenario([]byte(b[1]))
		if err == nil {
			_, err = New(Options{Scenario: sc})
		}
		if err != nil {
			t.Errorf("example %d is not a valid scenario: %v\n%s", i+1, err, b[1])
		}
	}
}

// scenarioKeys lists the keys of a scenario as the page names them: the
// path with [] for lists (groups[].hooks[].name), and the keys under
// unknowns by their own name.
func scenarioKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		ft := f.Type
		switch {
		case ft == reflect.TypeOf(Unknowns{}):
			keys = append(keys, scenarioKeys(ft, "")...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			keys = append(keys, scenarioKeys(ft.Elem(), prefix+tag+"[].")...)
		default:
			keys = append(keys, prefix+tag)
		}
	}
	return keys
}
