package asclient

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"

	sdkregion "github.com/huaweicloud/huaweicloud-sdk-go-v3/core/region"
	asregion "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/as/v1/region"
	"golang.org/x/net/http/httpproxy"
)

// Where the AS endpoint came from, as Client.EndpointSource reports it.
const (
	EndpointFromConfig  = "config"
	EndpointFromTable   = "SDK region table"
	EndpointFromDerived = "derived from the region: not in the SDK's AS region table"
)

// sdkRegions is the SDK's AS region table, read from its exported regions
// rather than through asregion.SafeValueOf: that also consults
// HUAWEICLOUD_SDK_REGION_AS_<REGION>, HUAWEICLOUD_SDK_REGIONS_FILE and
// ~/.huaweicloud/regions.yaml (panicking on a malformed file), which would
// move the agent's endpoint without a word in its configuration.
// cloud.as_endpoint is the one override. TestRegionTableMatchesSDK keeps the
// list in step with the SDK.
var sdkRegions = []*sdkregion.Region{
	asregion.AF_SOUTH_1, asregion.CN_NORTH_4, asregion.CN_NORTH_1, asregion.CN_EAST_2, asregion.CN_EAST_3,
	asregion.CN_SOUTH_1, asregion.CN_SOUTHWEST_2, asregion.AP_SOUTHEAST_2, asregion.AP_SOUTHEAST_1,
	asregion.AP_SOUTHEAST_3, asregion.CN_NORTH_2, asregion.RU_NORTHWEST_2, asregion.CN_NORTH_9,
	asregion.NA_MEXICO_1, asregion.LA_NORTH_2, asregion.LA_SOUTH_2, asregion.SA_BRAZIL_1, asregion.CN_SOUTH_2,
	asregion.TR_WEST_1, asregion.AP_SOUTHEAST_4, asregion.EU_WEST_0, asregion.EU_WEST_101,
	asregion.MY_KUALALUMPUR_1, asregion.RU_MOSCOW_1, asregion.AP_SOUTHEAST_5, asregion.ME_EAST_1,
	asregion.CN_EAST_4, asregion.CN_SOUTHWEST_3, asregion.CN_SOUTH_4, asregion.CN_NORTH_12,
	asregion.CN_NORTH_11, asregion.CN_EAST_5, asregion.AF_NORTH_1,
}

// regionPattern is a region ID as Huawei names them (cn-north-4,
// ap-southeast-1, eu-west-101): it becomes part of a host name.
var regionPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// maxRegionLen bounds a region ID: a DNS label holds 63 bytes.
const maxRegionLen = 63

// resolveEndpoint picks the AS endpoint: the configured one, else the SDK's
// table entry for the region, else https://as.{region}.myhuaweicloud.com,
// the pattern every entry but one follows (the table lacks some regions
// that other services' tables have). It returns where it came from.
func resolveEndpoint(region, endpoint string) (string, string, error) {
	if endpoint != "" {
		u, err := url.Parse(endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return "", "", fmt.Errorf("AS endpoint %q: want a base URL such as https://as.cn-north-4.myhuaweicloud.com", endpoint)
		}
		return u.Scheme + "://" + u.Host, EndpointFromConfig, nil
	}
	if region == "" {
		return "", "", errors.New("AS client: neither a region nor an AS endpoint is known (set cloud.region or cloud.as_endpoint)")
	}
	if len(region) > maxRegionLen || !regionPattern.MatchString(region) {
		return "", "", fmt.Errorf("region %q: want a region ID such as cn-north-4", region)
	}
	for _, r := range sdkRegions {
		if r.Id != region || len(r.Endpoints) == 0 {
			continue
		}
		u, err := url.Parse(r.Endpoints[0])
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return "", "", fmt.Errorf("region %q: the SDK's endpoint %q is not an http(s) URL: set cloud.as_endpoint", region, r.Endpoints[0])
		}
		return u.Scheme + "://" + u.Host, EndpointFromTable, nil
	}
	return "https://as." + region + ".myhuaweicloud.com", EndpointFromDerived, nil
}

// Proxy settings, as Options.Proxy takes them.
const (
	// ProxyFromEnvironment ("") uses HTTPS_PROXY, HTTP_PROXY and NO_PROXY
	// (or their lower-case forms), as curl and Go programs do.
	ProxyFromEnvironment = ""
	// ProxyNone never uses a proxy, whatever the environment says.
	ProxyNone = "none"
)

// proxyChoice is how AS calls reach the endpoint.
type proxyChoice struct {
	fn   func(*http.Request) (*url.URL, error) // nil: never a proxy
	desc string                                // for `asagent identity` and the log
}

// resolveProxy builds the proxy function of the AS transport from
// cloud.proxy (setting) and the environment (getenv), and describes the
// proxy that calls to endpoint use. Loopback endpoints are never proxied
// from the environment (as in Go's own http.ProxyFromEnvironment).
func resolveProxy(setting, endpoint string, getenv func(string) string) (proxyChoice, error) {
	switch setting {
	case ProxyNone:
		return proxyChoice{desc: "none (cloud.proxy: none)"}, nil
	case ProxyFromEnvironment:
		return envProxy(endpoint, getenv)
	}
	u, err := url.Parse(setting)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "socks5") ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return proxyChoice{}, fmt.Errorf("cloud.proxy %q: want none, or a URL such as http://proxy.example:3128", redactURL(setting))
	}
	return proxyChoice{fn: http.ProxyURL(u), desc: u.Redacted() + " (cloud.proxy)"}, nil
}

// envProxy is the proxy the environment names, read once through getenv.
func envProxy(endpoint string, getenv func(string) string) (proxyChoice, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	pick := func(upper, lower string) (string, string) {
		if v := getenv(upper); v != "" {
			return v, upper
		}
		return getenv(lower), lower
	}
	cfg := httpproxy.Config{}
	var httpsVar, httpVar string
	cfg.HTTPSProxy, httpsVar = pick("HTTPS_PROXY", "https_proxy")
	cfg.HTTPProxy, httpVar = pick("HTTP_PROXY", "http_proxy")
	cfg.NoProxy, _ = pick("NO_PROXY", "no_proxy")
	proxyFor := cfg.ProxyFunc()
	fn := func(r *http.Request) (*url.URL, error) { return proxyFor(r.URL) }
	ep, err := url.Parse(endpoint)
	if err != nil {
		return proxyChoice{}, err
	}
	p, err := proxyFor(ep)
	if err != nil {
		return proxyChoice{}, fmt.Errorf("proxy from the environment: %w", err)
	}
	switch {
	case p == nil && cfg.HTTPSProxy == "" && cfg.HTTPProxy == "":
		return proxyChoice{fn: fn, desc: "none"}, nil
	case p == nil:
		return proxyChoice{fn: fn, desc: "none (NO_PROXY, or a loopback endpoint)"}, nil
	}
	from := httpVar
	if ep.Scheme == "https" {
		from = httpsVar
	}
	return proxyChoice{fn: fn, desc: p.Redacted() + " (" + from + ")"}, nil
}

// redactURL hides a password in a URL that may not parse.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return "(unparsable)"
}
