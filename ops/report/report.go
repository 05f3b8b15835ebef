// Package report measures how quickly findings are handled: time to detect
// (from the CloudTrail event to the bot seeing it), to acknowledge (from
// detection to a person acknowledging it) and to resolve (for how long the
// resource was exposed), per team and per rule, with medians and 90th
// percentiles. It reads findings only, so it works on any store.
package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/secops-bot/secops-bot/finding"
)

// Unowned is the team name of findings in accounts no team owns.
const Unowned = "(unowned)"

// Durations summarises one measured interval over a group of findings.
// Percentiles use the nearest-rank method, so each is a value that was
// actually observed.
type Durations struct {
	N      int // findings the interval could be measured for
	Median time.Duration
	P90    time.Duration
}

// Stats are the measures of a group of findings.
type Stats struct {
	Count int // findings in the group
	Open  int // still open
	// Detect is DetectedAt − Event.Time, Ack is AckedAt − DetectedAt and
	// Resolve is how long a resolved finding was open.
	Detect, Ack, Resolve Durations
}

// Row is the stats of one team or rule.
type Row struct {
	Name string
	Stats
}

// Report is the result of Compute.
type Report struct {
	Since time.Time
	// Suppressed findings (marked expected) are counted here and left out
	// of everything else: nobody had to act on them.
	Suppressed int
	Total      Stats
	ByTeam     []Row // by name
	ByRule     []Row // by name
}

// samples collects the intervals of a group before summarising them.
type samples struct {
	count, open         int
	detect, ack, resolv []time.Duration
}

func (s *samples) add(f finding.Finding) {
	s.count++
	if f.Status == finding.StatusOpen {
		s.open++
	}
	if !f.DetectedAt.IsZero() && !f.Event.Time.IsZero() {
		// A reopened finding carries the reopening event, later than the
		// first detection: that difference is no detection time.
		if d := f.DetectedAt.Sub(f.Event.Time); d >= 0 {
			s.detect = append(s.detect, d)
		}
	}
	if f.AckedBy != "" && !f.AckedAt.IsZero() && !f.DetectedAt.IsZero() {
		if d := f.AckedAt.Sub(f.DetectedAt); d >= 0 {
			s.ack = append(s.ack, d)
		}
	}
	if f.Status == finding.StatusResolved {
		d := f.OpenFor
		if d <= 0 && !f.ResolvedAt.IsZero() && !f.OpenedAt.IsZero() {
			d = f.ResolvedAt.Sub(f.OpenedAt)
		}
		if d >= 0 && (d > 0 || !f.ResolvedAt.IsZero()) {
			s.resolv = append(s.resolv, d)
		}
	}
}

func (s *samples) stats() Stats {
	return Stats{Count: s.count, Open: s.open, Detect: summarise(s.detect), Ack: summarise(s.ack), Resolve: summarise(s.resolv)}
}

func summarise(ds []time.Duration) Durations {
	if len(ds) == 0 {
		return Durations{}
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return Durations{N: len(ds), Median: rank(ds, 0.5), P90: rank(ds, 0.9)}
}

// rank is the nearest-rank percentile of sorted values.
func rank(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

// Compute measures the findings detected at or after since (a zero since
// takes them all).
func Compute(fs []finding.Finding, since time.Time) Report {
	r := Report{Since: since}
	var total samples
	teams, rules := map[string]*samples{}, map[string]*samples{}
	group := func(m map[string]*samples, k string) *samples {
		if m[k] == nil {
			m[k] = &samples{}
		}
		return m[k]
	}
	for _, f := range fs {
		at := f.DetectedAt
		if at.IsZero() {
			at = f.FirstSeen
		}
		if !since.IsZero() && at.Before(since) {
			continue
		}
		if f.Status == finding.StatusSuppressed {
			r.Suppressed++
			continue
		}
		team := f.Team
		if team == "" {
			team = Unowned
		}
		total.add(f)
		group(teams, team).add(f)
		group(rules, f.Rule).add(f)
	}
	r.Total = total.stats()
	r.ByTeam = rows(teams)
	r.ByRule = rows(rules)
	return r
}

func rows(m map[string]*samples) []Row {
	out := make([]Row, 0, len(m))
	for name, s := range m {
		out = append(out, Row{Name: name, Stats: s.stats()})
	}
	slices.SortFunc(out, func(a, b Row) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}

// WriteText writes the report as aligned tables for a terminal or a Slack
// code block.
func WriteText(w io.Writer, r Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	since := "the beginning"
	if !r.Since.IsZero() {
		since = r.Since.UTC().Format("2006-01-02 15:04 UTC")
	}
	fmt.Fprintf(tw, "Findings detected since %s: %d (%d open, %d marked expected and not counted)\n",
		since, r.Total.Count, r.Total.Open, r.Suppressed)
	table := func(title string, rs []Row) {
		fmt.Fprintf(tw, "\n%s\n", title)
		fmt.Fprintln(tw, "\tfindings\topen\tdetect p50\tp90\tack p50\tp90\tresolve p50\tp90")
		for _, row := range append(rs, Row{Name: "all", Stats: r.Total}) {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", row.Name, row.Count, row.Open,
				human(row.Detect, false), human(row.Detect, true),
				human(row.Ack, false), human(row.Ack, true),
				human(row.Resolve, false), human(row.Resolve, true))
		}
	}
	table("By team", r.ByTeam)
	table("By rule", r.ByRule)
	return tw.Flush()
}

// human renders the median or the 90th percentile, "-" when nothing was
// measured.
func human(d Durations, p90 bool) string {
	if d.N == 0 {
		return "-"
	}
	v := d.Median
	if p90 {
		v = d.P90
	}
	return Duration(v)
}

// Duration renders a duration compactly: "41s", "1m 30s", "14m", "2h 5m",
// "3d 4h".
func Duration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		if sec := int(d % time.Minute / time.Second); sec != 0 {
			return fmt.Sprintf("%dm %ds", int(d/time.Minute), sec)
		}
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		if m := int(d % time.Hour / time.Minute); m != 0 {
			return fmt.Sprintf("%dh %dm", int(d/time.Hour), m)
		}
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	if h := int(d % (24 * time.Hour) / time.Hour); h != 0 {
		return fmt.Sprintf("%dd %dh", int(d/(24*time.Hour)), h)
	}
	return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
}

// CSVHeader is the first record WriteCSV writes. Durations are whole
// seconds, empty when nothing was measured.
var CSVHeader = []string{
	"group_by", "group", "findings", "open",
	"detect_n", "detect_p50_s", "detect_p90_s",
	"ack_n", "ack_p50_s", "ack_p90_s",
	"resolve_n", "resolve_p50_s", "resolve_p90_s",
}

// WriteCSV writes one record per team, per rule and for all findings.
func WriteCSV(w io.Writer, r Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	record := func(by string, row Row) []string {
		rec := []string{by, row.Name, strconv.Itoa(row.Count), strconv.Itoa(row.Open)}
		for _, d := range []Durations{row.Detect, row.Ack, row.Resolve} {
			if d.N == 0 {
				rec = append(rec, "0", "", "")
				continue
			}
			rec = append(rec, strconv.Itoa(d.N), secs(d.Median), secs(d.P90))
		}
		return rec
	}
	for _, row := range r.ByTeam {
		_ = cw.Write(record("team", row))
	}
	for _, row := range r.ByRule {
		_ = cw.Write(record("rule", row))
	}
	_ = cw.Write(record("all", Row{Name: "all", Stats: r.Total}))
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func secs(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) }
