package asclient

import (
	"fmt"
	"regexp"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// What the cloud sends is checked when it enters, against AS's documented
// formats: an ID goes into request paths (the SDK does not escape '/'), a
// hook name into scripts' arguments and environment, and all of them into
// logs and `asagent status`. A value out of pattern is refused with an
// error, never passed on.
var (
	// idPattern is an AS or ECS ID: UUIDs and 32-hex project IDs, and the
	// shorter readable IDs of test setups. Never '/', '%', '?', '#', a
	// space, a control character, or a leading '.' (no "." or ".." path
	// segment).
	idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	// hookNamePattern is lifecycle_hook_name: letters, digits, '_' and '-',
	// 1-32 by the API reference, 64 by the OpenAPI spec.
	hookNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	// actionKeyPattern is lifecycle_action_key: a UUID in every example.
	actionKeyPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)
	// enumPattern is an enumerated value (CONTINUE, INSTANCE_LAUNCHING,
	// PENDING_WAIT): upper-case letters and '_'.
	enumPattern = regexp.MustCompile(`^[A-Z_]{0,32}$`)
)

// maxNameLen bounds a display name (a group's or an instance's): AS allows 64.
const maxNameLen = 64

// checkID refuses an ID out of pattern; what names the field.
func checkID(what, id string) error {
	if !idPattern.MatchString(id) {
		return invalid(what, id, "1-64 letters, digits, '_', '-' or '.', not starting with '.', '_' or '-'")
	}
	return nil
}

// checkHookName refuses a hook name out of pattern.
func checkHookName(what, name string) error {
	if !hookNamePattern.MatchString(name) {
		return invalid(what, name, "1-64 letters, digits, '_' or '-'")
	}
	return nil
}

// checkActionKey refuses an action key out of pattern; "" is allowed (the
// callback then names the instance and hook).
func checkActionKey(what, key string) error {
	if key != "" && !actionKeyPattern.MatchString(key) {
		return invalid(what, key, "1-128 letters, digits, '_', '-' or '.'")
	}
	return nil
}

// checkEnum refuses an enumerated value that is not upper-case letters.
func checkEnum(what, v string) error {
	if !enumPattern.MatchString(v) {
		return invalid(what, v, "upper-case letters and '_'")
	}
	return nil
}

// displayName returns a name fit to print: the name itself when it is
// printable UTF-8 of at most maxNameLen runes, else a quoted, escaped and
// shortened form (a name is only ever shown, so it is not refused).
func displayName(s string) string {
	ok := utf8.ValidString(s) && utf8.RuneCountInString(s) <= maxNameLen
	for _, r := range s {
		if !ok || !unicode.IsPrint(r) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	return strconv.QuoteToASCII(truncate(s, maxNameLen))
}

// invalid is the error for a value out of pattern: it shows the value
// escaped and shortened, so that no byte of it reaches a log raw.
func invalid(what, v, want string) error {
	return &Error{Kind: KindFinal, Message: fmt.Sprintf("%s %s is not valid: want %s", what, strconv.QuoteToASCII(truncate(v, 80)), want)}
}
