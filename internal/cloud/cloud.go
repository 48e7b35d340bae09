// Package cloud maps the agent's configuration onto its cloud clients: the
// metadata service, credentials (config, the SDK's environment variables, or
// the instance's agency) and the AS client, and says where each value came
// from. `asagent identity` and the service share it, so what identity prints
// is what the service uses.
package cloud

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/jonboulle/clockwork"
	"github.com/rs/zerolog"

	"github.com/asagent/asagent/internal/asclient"
	"github.com/asagent/asagent/internal/config"
	"github.com/asagent/asagent/internal/metadata"
	"github.com/asagent/asagent/internal/version"
)

// GroupCacheFile is the scaling group cache's name inside state_dir.
const GroupCacheFile = "scaling-group.json"

// Where a value came from, as `asagent identity` prints it.
const (
	FromConfig   = "config"
	FromEnv      = "environment"
	FromMetadata = "metadata service"
	FromRegion   = asclient.EndpointFromTable
	FromDerived  = asclient.EndpointFromDerived
	FromAZ       = "derived from the availability zone"
)

// Setup is everything the agent needs to talk to the cloud, with where
// each part came from. `asagent identity` prints it; the service runs on it.
type Setup struct {
	InstanceID, ProjectID, Region, AZ     string
	InstanceFrom, ProjectFrom, RegionFrom string
	Metadata                              *metadata.Client
	MetadataErr                           error // set when the service was needed and did not answer
	Creds                                 metadata.Provider
	AS                                    *asclient.Client
	// ASEndpointFrom says where the AS endpoint came from: FromConfig,
	// FromRegion (the SDK's table) or FromDerived.
	ASEndpointFrom string
	Discover       asclient.DiscoverOptions
}

// New maps cfg onto the metadata and AS clients. Configured values win;
// the SDK's environment variables come next for credentials and project;
// the metadata service fills in the rest (and is only asked when something
// is missing). identityCtx bounds the metadata service's boot-time retries.
// It logs the AS endpoint and proxy it chose. obs, when not nil, is told
// of every AS request and credential fetch.
func New(identityCtx context.Context, cfg *config.Config, getenv func(string) string, clk clockwork.Clock, log zerolog.Logger, obs Observer) (*Setup, error) {
	c := cfg.Cloud
	s := &Setup{
		InstanceID: c.InstanceID, ProjectID: c.ProjectID, Region: c.Region,
		InstanceFrom: FromConfig, ProjectFrom: FromConfig, RegionFrom: FromConfig,
	}
	md, err := metadata.New(metadata.Options{
		Endpoint:       c.MetadataEndpoint,
		RequestTimeout: min(c.RequestTimeout.D(), metadata.DefaultRequestTimeout),
		Clock:          clk,
		Logger:         log.With().Str("component", "metadata").Logger(),
		Fetched:        fetched(obs),
	})
	if err != nil {
		return nil, fmt.Errorf("cloud.metadata_endpoint: %w", err)
	}
	s.Metadata = md
	agency, err := s.credentials(c, getenv)
	if err != nil {
		return nil, err
	}
	// Ask the metadata service only when it is needed anyway, so that a
	// fully configured agent works where there is none.
	if agency || s.InstanceID == "" || s.ProjectID == "" || (s.Region == "" && c.ASEndpoint == "") {
		s.fromMetadata(identityCtx)
	}
	if err := s.checkIdentity(); err != nil {
		return s, err
	}
	if err := s.asClient(c, getenv, clk, log, obs); err != nil {
		return s, err
	}
	s.Discover = asclient.DiscoverOptions{
		InstanceID: s.InstanceID,
		GroupID:    c.ScalingGroupID,
		CacheFile:  filepath.Join(cfg.StateDir, GroupCacheFile),
	}
	return s, nil
}

// credentials picks the credentials: config, then the SDK's environment
// variables, then the instance's agency (agency is then true). The
// environment's project ID fills a project the config left empty.
func (s *Setup) credentials(c config.Cloud, getenv func(string) string) (agency bool, err error) {
	envCreds, envProject, envOK, err := metadata.EnvCredentials(getenv)
	if err != nil {
		return false, err
	}
	switch {
	case c.Credentials.AccessKey != "":
		s.Creds, err = metadata.NewStatic(metadata.Credentials{
			AccessKey:     c.Credentials.AccessKey,
			SecretKey:     c.Credentials.SecretKey,
			SecurityToken: c.Credentials.SecurityToken,
			Source:        metadata.SourceConfig,
		})
	case envOK:
		s.Creds, err = metadata.NewStatic(envCreds)
	default:
		s.Creds = s.Metadata.AgencyCredentials(0)
		agency = true
	}
	if s.ProjectID == "" && envProject != "" {
		s.ProjectID, s.ProjectFrom = envProject, FromEnv
	}
	return agency, err
}

// fromMetadata fills what is still unknown from meta_data.json; a service
// that does not answer is recorded in MetadataErr.
func (s *Setup) fromMetadata(ctx context.Context) {
	id, err := s.Metadata.Identity(ctx)
	if err != nil {
		s.MetadataErr = err
		return
	}
	s.AZ = id.AvailabilityZone
	if s.InstanceID == "" {
		s.InstanceID, s.InstanceFrom = id.InstanceID, FromMetadata
	}
	if s.ProjectID == "" {
		s.ProjectID, s.ProjectFrom = id.ProjectID, FromMetadata
	}
	if s.Region == "" {
		s.Region, s.RegionFrom = id.Region, FromMetadata
	}
}

// checkIdentity says which key to set when the instance or project is
// still unknown.
func (s *Setup) checkIdentity() error {
	for _, v := range []struct{ val, name, key string }{
		{s.InstanceID, "the instance ID", "cloud.instance_id"},
		{s.ProjectID, "the project ID", "cloud.project_id"},
	} {
		if v.val == "" {
			return fmt.Errorf("%s is unknown: the metadata service did not answer (%v); set %s", v.name, s.MetadataErr, v.key)
		}
	}
	if s.Region == "" {
		s.RegionFrom = ""
	}
	return nil
}

// asClient builds the AS client and logs the endpoint and proxy it uses:
// an endpoint derived for a region the SDK does not list is a warning, as
// it is a guess at a documented pattern.
func (s *Setup) asClient(c config.Cloud, getenv func(string) string, clk clockwork.Clock, log zerolog.Logger, obs Observer) error {
	aslog := log.With().Str("component", "as").Logger()
	var err error
	s.AS, err = asclient.New(asclient.Options{
		Region:             s.Region,
		Endpoint:           c.ASEndpoint,
		ProjectID:          s.ProjectID,
		Credentials:        s.Creds,
		CallTimeout:        c.RequestTimeout.D(),
		InsecureSkipVerify: c.InsecureSkipVerify,
		Proxy:              c.Proxy,
		Getenv:             getenv,
		Clock:              clk,
		Logger:             aslog,
		UserAgent:          strings.ReplaceAll(version.String(), " ", "/"),
		WrapTransport:      wrapAS(obs),
	})
	if err != nil {
		return err
	}
	s.ASEndpointFrom = s.AS.EndpointSource()
	ev := aslog.Info()
	if s.ASEndpointFrom == FromDerived {
		ev = aslog.Warn().Str("region", s.Region).Str("hint", "if AS does not answer there, set cloud.as_endpoint")
	}
	ev.Str("endpoint", s.AS.Endpoint()).Str("endpoint_from", s.ASEndpointFrom).Str("proxy", s.AS.Proxy()).Msg("AS endpoint chosen")
	return nil
}
