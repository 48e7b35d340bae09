package sim

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// TokenMode is how the metadata service treats session tokens (the
// instance's http_tokens setting).
type TokenMode int

// The token modes. TokensOptional is the default on a real instance.
const (
	// TokensOptional issues tokens and checks those sent, but answers
	// requests without one.
	TokensOptional TokenMode = iota
	// TokensRequired answers 401 to any metadata request without a valid token.
	TokensRequired
	// TokensUnsupported answers 404 to the token PUT and ignores tokens, as
	// on images whose metadata service predates them.
	TokensUnsupported
)

func (m TokenMode) String() string {
	switch m {
	case TokensOptional:
		return "optional"
	case TokensRequired:
		return "required"
	case TokensUnsupported:
		return "unsupported"
	}
	return "TokenMode(" + strconv.Itoa(int(m)) + ")"
}

// Session-token protocol, per the metadata service documentation.
const (
	headerTokenTTL    = "X-Metadata-Token-Ttl-Seconds"
	headerToken       = "X-Metadata-Token"
	headerForwarded   = "X-Forwarded-For"
	minTokenTTL       = 60
	maxTokenTTL       = 21600
	agencyMissingText = "Please configure Cloud Service Agency first"
)

// SetTokenMode sets how session tokens are treated. Tokens issued before
// stay valid until they expire.
func (s *Sim) SetTokenMode(m TokenMode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenMode = m
}

// SetAgency sets whether an agency is bound to the instance. Without one,
// securitykey answers 401 "Please configure Cloud Service Agency first".
func (s *Sim) SetAgency(bound bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.agency = bound
}

// tempCredential is one set of securitykey credentials.
type tempCredential struct {
	access, secret, token string
	expires               time.Time
}

// RotateCredentials issues new temporary credentials now, as the metadata
// service does before the current ones expire. The old ones stay valid
// until their own expiry, so requests signed with them keep working.
func (s *Sim) RotateCredentials() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.issueCredential(s.now())
}

// issueCredential adds a new current credential and forgets those that
// expired more than a lifetime ago (kept until then so that their use is
// reported as expired rather than unknown).
func (s *Sim) issueCredential(now time.Time) {
	kept := s.creds[:0]
	for _, c := range s.creds {
		if now.Sub(c.expires) < s.credLifetime {
			kept = append(kept, c)
		}
	}
	s.creds = append(kept, &tempCredential{
		// Temporary AKs are 20 upper-case characters like permanent ones.
		access:  strings.ToUpper(randomHex(10)),
		secret:  randomHex(20),
		token:   "sim-sts-" + randomHex(48),
		expires: now.Add(s.credLifetime),
	})
}

// currentCredential returns the credential securitykey hands out, issuing a
// fresh one once the current one is past half its lifetime: the SDK
// refetches 40 minutes before expiry and must then get a later expiry.
func (s *Sim) currentCredential(now time.Time) *tempCredential {
	c := s.creds[len(s.creds)-1]
	if c.expires.Sub(now) < s.credLifetime/2 {
		s.issueCredential(now)
		c = s.creds[len(s.creds)-1]
	}
	return c
}

// credential returns the temporary credential with the access key, or nil.
func (s *Sim) credential(access string) *tempCredential {
	for _, c := range s.creds {
		if c.access == access {
			return c
		}
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// metadataGate applies the rules every metadata request passes: no
// forwarded requests (the service only answers the instance itself), and
// the session token when one is sent or required. It answers and returns
// false when the request must stop.
func (s *Sim) metadataGate(c *call) bool {
	if c.r.Header.Get(headerForwarded) != "" {
		c.text(http.StatusForbidden, "Forbidden: forwarded requests are refused\n")
		return false
	}
	if c.route == RouteToken {
		return true
	}
	s.mu.Lock()
	mode := s.tokenMode
	tok := c.r.Header.Get(headerToken)
	valid := tok != "" && s.tokens[tok].After(s.now())
	s.mu.Unlock()
	switch {
	case mode == TokensUnsupported:
		return true
	case tok != "" && !valid:
		c.text(http.StatusUnauthorized, "Unauthorized: invalid or expired "+headerToken+"\n")
		return false
	case mode == TokensRequired && !valid:
		c.text(http.StatusUnauthorized, "Unauthorized: "+headerToken+" required\n")
		return false
	}
	return true
}

// serveToken is PUT /meta-data/latest/api/token.
func (s *Sim) serveToken(c *call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokenMode == TokensUnsupported {
		c.text(http.StatusNotFound, "Not Found\n")
		return
	}
	if st := s.tokenPutStatus(); st != 0 {
		c.text(st, http.StatusText(st)+"\n")
		return
	}
	ttl, err := strconv.Atoi(c.r.Header.Get(headerTokenTTL))
	if err != nil || ttl < minTokenTTL || ttl > maxTokenTTL {
		c.text(http.StatusBadRequest, "Bad Request: "+headerTokenTTL+" must be "+
			strconv.Itoa(minTokenTTL)+".."+strconv.Itoa(maxTokenTTL)+"\n")
		return
	}
	now := s.now()
	for t, exp := range s.tokens {
		if !exp.After(now) {
			delete(s.tokens, t)
		}
	}
	tok := randomHex(32)
	s.tokens[tok] = now.Add(time.Duration(ttl) * time.Second)
	c.w.Header().Set(headerTokenTTL, strconv.Itoa(ttl))
	c.text(http.StatusOK, tok)
}

// metaData is meta_data.json. Field names are the documented ones; meta
// holds the keys images commonly read.
type metaData struct {
	UUID             string            `json:"uuid"`
	ProjectID        string            `json:"project_id"`
	RegionID         string            `json:"region_id"`
	AvailabilityZone string            `json:"availability_zone"`
	Name             string            `json:"name"`
	Hostname         string            `json:"hostname"`
	LaunchIndex      int               `json:"launch_index"`
	Meta             map[string]string `json:"meta"`
}

// instanceName is the name and hostname the metadata service reports: ECS
// names instances "ecs-" plus a short suffix unless told otherwise.
func instanceName(id string) string {
	short := id
	if len(short) > 8 {
		short = short[:8]
	}
	return "ecs-" + short
}

// serveMetaData is GET /openstack/latest/meta_data.json.
func (s *Sim) serveMetaData(c *call) {
	s.mu.Lock()
	md := metaData{
		UUID: s.local, ProjectID: s.project, RegionID: s.region, AvailabilityZone: s.zone,
		Name: instanceName(s.local), Hostname: instanceName(s.local) + ".novalocal",
		Meta: map[string]string{
			"metering.image_id":           "9f5a4c8e-2b3d-4e6f-8a1b-3c5d7e9f0a2b",
			"metering.imagetype":          "gold",
			"metering.resourcespeccode":   "s6.large.2.linux",
			"metering.resourcetype":       "1",
			"image_name":                  "Debian 12.0.0 64bit",
			"os_type":                     "Linux",
			"os_bit":                      "64",
			"charging_mode":               "0",
			"vpc_id":                      "3a7c9e1b-5d2f-4a6b-8c0d-2e4f6a8b0c1d",
			"cascaded.instance_extrainfo": "",
		},
	}
	s.mu.Unlock()
	c.json(http.StatusOK, md)
}

// serveUserData is GET /openstack/latest/user_data: 404 without user data.
func (s *Sim) serveUserData(c *call) {
	s.mu.Lock()
	ud := s.userData
	s.mu.Unlock()
	if ud == "" {
		c.text(http.StatusNotFound, "Not Found\n")
		return
	}
	c.text(http.StatusOK, ud)
}

// ec2Paths lists the EC2-style /latest/meta-data/ entries the simulator
// serves; the index lists them in this order.
var ec2Paths = []string{"hostname", "instance-id", "instance-type", "local-hostname", "local-ipv4", "placement/availability-zone"}

// serveEC2 is GET /latest/meta-data/{path...}, plain text like the real one.
func (s *Sim) serveEC2(c *call) {
	s.mu.Lock()
	local, zone := s.local, s.zone
	s.mu.Unlock()
	host := instanceName(local) + ".novalocal"
	values := map[string]string{
		"":                            strings.Join(ec2Paths, "\n"),
		"hostname":                    host,
		"local-hostname":              host,
		"instance-id":                 local,
		"instance-type":               "s6.large.2",
		"local-ipv4":                  "192.168.0.10",
		"placement/availability-zone": zone,
		"placement/":                  "availability-zone",
	}
	v, ok := values[c.r.PathValue("path")]
	if !ok {
		c.text(http.StatusNotFound, "Not Found\n")
		return
	}
	c.text(http.StatusOK, v)
}

// securityKey is the securitykey answer: {"credential":{...}}.
type securityKey struct {
	Credential struct {
		Access        string `json:"access"`
		Secret        string `json:"secret"`
		SecurityToken string `json:"securitytoken"`
		ExpiresAt     string `json:"expires_at"`
	} `json:"credential"`
}

// securityKeyTime is the documented expires_at format, e.g.
// 2020-01-08T03:50:07.574000Z.
const securityKeyTime = "2006-01-02T15:04:05.000000Z"

// serveSecurityKey is GET /openstack/latest/securitykey.
func (s *Sim) serveSecurityKey(c *call) {
	s.mu.Lock()
	if !s.agency {
		s.mu.Unlock()
		c.text(http.StatusUnauthorized, agencyMissingText+"\n")
		return
	}
	cred := *s.currentCredential(s.now())
	s.mu.Unlock()
	var out securityKey
	out.Credential.Access = cred.access
	out.Credential.Secret = cred.secret
	out.Credential.SecurityToken = cred.token
	out.Credential.ExpiresAt = cred.expires.UTC().Format(securityKeyTime)
	c.json(http.StatusOK, out)
}
