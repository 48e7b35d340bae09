package sim

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// The SDK-HMAC-SHA256 signing scheme (reference sheet §5), verified from
// the server side. Nothing here comes from the SDK; the tests check it
// against the SDK's signer.
const (
	signAlgorithm       = "SDK-HMAC-SHA256"
	headerAuthorization = "Authorization"
	headerSdkDate       = "X-Sdk-Date"
	headerSecurityToken = "X-Security-Token"
	headerProjectID     = "X-Project-Id"
	headerAuthToken     = "X-Auth-Token"
	// headerContentSha256 carries the body hash instead of the body itself;
	// the SDK sends UNSIGNED-PAYLOAD there for non-JSON bodies.
	headerContentSha256 = "X-Sdk-Content-Sha256"
	sdkDateFormat       = "20060102T150405Z"
	// maxClockSkew is how far X-Sdk-Date may be from the server's time:
	// the gateway refuses requests signed more than 15 minutes away.
	maxClockSkew = 15 * time.Minute
)

// authError is why a request was not authenticated. The simulator answers
// every authentication failure with 401 and the AS error body: AS.0005 when
// no credentials were sent at all, AS.0006 otherwise (bad signature,
// unknown or expired AK, bad security token, skewed date). The real API
// gateway may answer some of these with APIG.* codes; the AS codes are the
// documented ones for "token missing" and "token invalid", and clients
// should treat any 401 as "credentials are wrong" either way.
type authError struct {
	code, msg string
}

// authorization is a parsed Authorization header.
type authorization struct {
	access        string
	signedHeaders []string
	signature     string
}

// parseAuthorization reads
// "SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex".
func parseAuthorization(v string) (authorization, bool) {
	alg, rest, ok := strings.Cut(v, " ")
	if !ok || alg != signAlgorithm {
		return authorization{}, false
	}
	var a authorization
	for _, part := range strings.Split(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return authorization{}, false
		}
		switch k {
		case "Access":
			a.access = val
		case "SignedHeaders":
			a.signedHeaders = strings.Split(val, ";")
		case "Signature":
			a.signature = val
		}
	}
	return a, a.access != "" && len(a.signedHeaders) > 0 && a.signature != ""
}

// authenticate verifies the request's signature and credentials against
// the clock. It returns nil when the request is authentic.
func (s *Sim) authenticate(c *call) *authError {
	h := c.r.Header
	raw := h.Get(headerAuthorization)
	if raw == "" {
		if h.Get(headerAuthToken) != "" {
			return &authError{codeTokenInvalid, "IAM tokens are not supported by the simulator: sign requests with an AK/SK"}
		}
		return &authError{codeTokenMissing, "Authorization header is missing"}
	}
	a, ok := parseAuthorization(raw)
	if !ok {
		return &authError{codeTokenInvalid, "Authorization header is not " + signAlgorithm + " Access=..., SignedHeaders=..., Signature=..."}
	}
	date, err := time.Parse(sdkDateFormat, h.Get(headerSdkDate))
	if err != nil {
		return &authError{codeTokenInvalid, headerSdkDate + " is missing or not " + sdkDateFormat}
	}
	if skew := s.now().Sub(date); skew > maxClockSkew || skew < -maxClockSkew {
		return &authError{codeTokenInvalid, headerSdkDate + " is more than 15 minutes from the server's time"}
	}
	secret, caller, aerr := s.secretFor(a.access, h.Get(headerSecurityToken))
	if aerr != nil {
		return aerr
	}
	want := signature(secret, date, canonicalRequest(c.r, a.signedHeaders, c.body))
	if !hmac.Equal([]byte(want), []byte(a.signature)) {
		return &authError{codeTokenInvalid, "the request signature does not match"}
	}
	c.caller = caller
	return nil
}

// secretFor returns the SK of an access key, and which kind of caller
// holds it: the permanent one, or a temporary one from securitykey, which
// also needs its unexpired security token.
func (s *Sim) secretFor(access, token string) (string, Caller, *authError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.accessKey != "" && access == s.accessKey {
		if token != "" {
			return "", "", &authError{codeTokenInvalid, "a security token was sent with a permanent access key"}
		}
		return s.secretKey, CallerPermanentKey, nil
	}
	cred := s.credential(access)
	switch {
	case cred == nil:
		return "", "", &authError{codeTokenInvalid, "unknown access key " + access}
	case token == "":
		return "", "", &authError{codeTokenInvalid, "temporary access key " + access + " needs " + headerSecurityToken}
	case subtle.ConstantTimeCompare([]byte(token), []byte(cred.token)) != 1:
		return "", "", &authError{codeTokenInvalid, "the security token is invalid"}
	case !s.now().Before(cred.expires):
		return "", "", &authError{codeTokenInvalid, "the security token has expired"}
	}
	return cred.secret, CallerAgency, nil
}

// signature is hex(HMAC-SHA256(SK, string to sign)).
func signature(secret string, date time.Time, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	toSign := signAlgorithm + "\n" + date.UTC().Format(sdkDateFormat) + "\n" + hex.EncodeToString(sum[:])
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(toSign))
	return hex.EncodeToString(mac.Sum(nil))
}

// canonicalRequest rebuilds what the client signed:
// METHOD \n URI \n QUERY \n HEADERS \n SIGNEDHEADERS \n hex(sha256(body)).
func canonicalRequest(r *http.Request, signedHeaders []string, body []byte) string {
	return strings.Join([]string{
		r.Method,
		canonicalURI(r.URL.Path),
		canonicalQuery(r.URL.Query()),
		canonicalHeaders(r, signedHeaders),
		strings.Join(signedHeaders, ";"),
		payloadHash(r, body),
	}, "\n")
}

// canonicalURI escapes each path segment and ends the path with "/".
func canonicalURI(path string) string {
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		segs[i] = escape(seg)
	}
	uri := strings.Join(segs, "/")
	if !strings.HasSuffix(uri, "/") {
		uri += "/"
	}
	return uri
}

// canonicalQuery sorts keys, and each key's values, and joins escaped
// k=v pairs with "&".
func canonicalQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var pairs []string
	for _, k := range keys {
		vals := append([]string(nil), q[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			pairs = append(pairs, escape(k)+"="+escape(v))
		}
	}
	return strings.Join(pairs, "&")
}

// canonicalHeaders writes "name:value" lines for the signed headers, in
// their signed order, plus a final newline. Go's server moves Host out of
// the header map, so it is read from the request.
func canonicalHeaders(r *http.Request, signed []string) string {
	var b strings.Builder
	for _, name := range signed {
		vals := r.Header.Values(name)
		if strings.EqualFold(name, "host") {
			vals = []string{r.Host}
		}
		vals = append([]string(nil), vals...)
		sort.Strings(vals)
		for _, v := range vals {
			b.WriteString(name + ":" + strings.TrimSpace(v) + "\n")
		}
	}
	if b.Len() == 0 {
		return "\n"
	}
	return b.String()
}

// payloadHash is the body's hex SHA-256, or X-Sdk-Content-Sha256 when the
// client declared the hash (e.g. UNSIGNED-PAYLOAD) instead.
func payloadHash(r *http.Request, body []byte) string {
	if v := r.Header.Get(headerContentSha256); v != "" {
		return v
	}
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// escape percent-encodes everything but A-Z a-z 0-9 _ - ~ . with upper-case
// hex, as the scheme specifies (url.PathEscape keeps more characters).
func escape(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '~' || c == '.' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}
