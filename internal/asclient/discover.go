package asclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/asagent/asagent/internal/fsutil"
)

// How a scaling group was found, as Discovery.Source reports it.
const (
	FoundByConfig = "config"     // cloud.scaling_group_id
	FoundByCache  = "cache"      // a cache file written by an earlier discovery, checked again
	FoundBySearch = "discovered" // listing the project's groups and their instances
)

// DiscoverOptions say what to look for.
type DiscoverOptions struct {
	InstanceID string
	// GroupID, when set (cloud.scaling_group_id), wins: no lookup is made.
	GroupID string
	// CacheFile keeps the answer between runs (in the state directory); ""
	// disables the cache. A cached group is checked before it is trusted.
	CacheFile string
}

// Discovery is the scaling group that holds the instance.
type Discovery struct {
	GroupID   string
	GroupName string // "" when it came from config
	Source    string // FoundByConfig, FoundByCache or FoundBySearch
}

// NotInGroupError says the instance is in none of the project's groups.
type NotInGroupError struct {
	InstanceID, ProjectID string
	GroupsSearched        int
	// EnterpriseProjects is set when the groups of every enterprise
	// project the credentials are authorised for were searched too.
	EnterpriseProjects bool
}

func (e *NotInGroupError) Error() string {
	also := ""
	if e.EnterpriseProjects {
		also = ", those of its enterprise projects included"
	}
	return fmt.Sprintf("instance %s is in no scaling group of project %s (searched %d groups%s); "+
		"if it should be, set cloud.scaling_group_id", e.InstanceID, e.ProjectID, e.GroupsSearched, also)
}

// allGrantedEPs asks a group listing for the groups of every enterprise
// project the credentials are authorised for.
const allGrantedEPs = "all_granted_eps"

// groupCache is the cache file's content. Project and instance are kept so
// that a file baked into an image, or copied to another instance, is not
// believed.
type groupCache struct {
	ProjectID    string    `json:"project_id"`
	InstanceID   string    `json:"instance_id"`
	GroupID      string    `json:"scaling_group_id"`
	GroupName    string    `json:"scaling_group_name,omitempty"`
	DiscoveredAt time.Time `json:"discovered_at"`
}

// DiscoverGroup finds the scaling group of opts.InstanceID: the configured
// group if any; else the cached one if the group still exists and still lists
// the instance; else by listing the project's groups and their instances
// until the instance turns up (then the cache is written). Credentials scoped
// to enterprise projects may see no group in a plain listing, so when the
// instance is in none of those it lists again with
// enterprise_project_id=all_granted_eps. An instance in no group gives
// *NotInGroupError.
func (c *Client) DiscoverGroup(ctx context.Context, opts DiscoverOptions) (Discovery, error) {
	if opts.GroupID != "" {
		if err := checkID("cloud.scaling_group_id", opts.GroupID); err != nil {
			return Discovery{}, withOp(opListGroups, err)
		}
		return Discovery{GroupID: opts.GroupID, Source: FoundByConfig}, nil
	}
	if opts.InstanceID == "" {
		return Discovery{}, errors.New("group discovery needs the instance ID")
	}
	if err := checkID("instance ID", opts.InstanceID); err != nil {
		return Discovery{}, withOp(opListGroups, err)
	}
	if d, ok := c.checkCache(ctx, opts); ok {
		return d, nil
	} else if ctx.Err() != nil {
		return Discovery{}, ctx.Err()
	}
	searched := map[string]bool{}
	d, err := c.searchGroups(ctx, opts.InstanceID, nil, searched)
	if err != nil || d.GroupID != "" {
		c.writeCache(opts, d)
		return d, err
	}
	ep := allGrantedEPs
	d, err = c.searchGroups(ctx, opts.InstanceID, &ep, searched)
	var ae *Error
	switch {
	case err != nil && (!errors.As(err, &ae) || ae.Retryable()):
		return Discovery{}, err
	case err != nil:
		// An AS that does not know the parameter may refuse it: the plain
		// listing's answer stands.
		c.log.Warn().Err(err).Msg("listing the groups of every enterprise project failed; the instance is in none of the other groups")
	case d.GroupID != "":
		c.log.Info().Str("scaling_group_id", d.GroupID).
			Msg("found this instance's group only among the enterprise projects' groups (enterprise_project_id=all_granted_eps)")
		c.writeCache(opts, d)
		return d, nil
	}
	return Discovery{}, &NotInGroupError{InstanceID: opts.InstanceID, ProjectID: c.projectID,
		GroupsSearched: len(searched), EnterpriseProjects: err == nil}
}

// searchGroups lists the project's groups (with enterprise_project_id ep
// when set) and looks for the instance in each one not searched yet. A
// Discovery with no GroupID means not found.
func (c *Client) searchGroups(ctx context.Context, instanceID string, ep *string, searched map[string]bool) (Discovery, error) {
	var groups []Group
	if err := c.eachGroup(ctx, ep, func(g Group) bool { groups = append(groups, g); return true }); err != nil {
		return Discovery{}, err
	}
	for _, g := range groups {
		if searched[g.ID] {
			continue
		}
		searched[g.ID] = true
		found, err := c.groupHas(ctx, g.ID, instanceID)
		if IsNotFound(err) {
			continue // deleted while we looked
		}
		if err != nil {
			return Discovery{}, err
		}
		if found {
			return Discovery{GroupID: g.ID, GroupName: g.Name, Source: FoundBySearch}, nil
		}
	}
	return Discovery{}, nil
}

// groupHas reports whether groupID lists instanceID.
func (c *Client) groupHas(ctx context.Context, groupID, instanceID string) (bool, error) {
	found := false
	err := c.eachInstance(ctx, groupID, func(in Instance) bool {
		found = in.ID == instanceID
		return !found
	})
	return found, err
}

// checkCache returns the cached group if it is for this project and
// instance and AS still lists the instance in it.
func (c *Client) checkCache(ctx context.Context, opts DiscoverOptions) (Discovery, bool) {
	if opts.CacheFile == "" {
		return Discovery{}, false
	}
	data, err := os.ReadFile(opts.CacheFile)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			c.log.Warn().Err(err).Str("file", opts.CacheFile).Msg("cannot read the scaling group cache; discovering again")
		}
		return Discovery{}, false
	}
	var gc groupCache
	if err := json.Unmarshal(data, &gc); err != nil || checkID("cached group ID", gc.GroupID) != nil {
		c.log.Warn().Str("file", opts.CacheFile).Msg("scaling group cache is malformed; discovering again")
		return Discovery{}, false
	}
	if gc.ProjectID != c.projectID || gc.InstanceID != opts.InstanceID {
		c.log.Info().Str("file", opts.CacheFile).Msg("scaling group cache is for another instance or project; discovering again")
		return Discovery{}, false
	}
	found, err := c.groupHas(ctx, gc.GroupID, opts.InstanceID)
	switch {
	case err != nil && !IsNotFound(err):
		c.log.Warn().Err(err).Str("scaling_group_id", gc.GroupID).Msg("cannot check the cached scaling group; discovering again")
		return Discovery{}, false
	case err != nil || !found:
		c.log.Info().Str("scaling_group_id", gc.GroupID).Msg("cached scaling group no longer holds this instance; discovering again")
		return Discovery{}, false
	}
	return Discovery{GroupID: gc.GroupID, GroupName: gc.GroupName, Source: FoundByCache}, true
}

// writeCache stores d atomically (a reader never sees half a file). A
// failure only costs a discovery next time, so it is logged, not returned.
func (c *Client) writeCache(opts DiscoverOptions, d Discovery) {
	if opts.CacheFile == "" || d.GroupID == "" {
		return
	}
	data, _ := json.MarshalIndent(groupCache{
		ProjectID: c.projectID, InstanceID: opts.InstanceID,
		GroupID: d.GroupID, GroupName: d.GroupName, DiscoveredAt: c.clock.Now().UTC(),
	}, "", "  ")
	if err := fsutil.WriteFileAtomic(opts.CacheFile, append(data, '\n')); err != nil {
		c.log.Warn().Err(err).Str("file", opts.CacheFile).Msg("cannot write the scaling group cache")
	}
}
