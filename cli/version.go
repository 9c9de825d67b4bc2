package cli

import (
	"runtime/debug"

	"github.com/cusprun/cusprun/core/job"
)

// Version is cusprun's release; builds from a git checkout add the commit.
const Version = job.Version

// VersionString is the version with the commit the binary was built from,
// when the build recorded it ("0.4.0+3a4c89b", "+dirty" for local changes).
func VersionString() string {
	v := Version
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if len(rev) > 7 {
		rev = rev[:7]
	}
	if rev != "" {
		v += "+" + rev + dirty
	}
	return v
}
