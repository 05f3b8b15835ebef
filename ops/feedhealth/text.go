package feedhealth

import (
	"fmt"
	"time"
)

// The texts are plain mrkdwn: a feed warning must get through even when
// everything else about the bot is degraded.

func silenceText(w *warning, now, start time.Time) string {
	var since string
	if w.Since.IsZero() {
		since = fmt.Sprintf("none since the bot started %s ago", ago(now.Sub(start)))
	} else {
		since = fmt.Sprintf("the newest is from %s, %s ago", stamp(w.Since), ago(now.Sub(w.Since)))
	}
	return fmt.Sprintf(":warning: *No CloudTrail events from %s* (%s). "+
		"The bot cannot see changes there, so no finding does not mean no exposure. "+
		"Check that the trail is logging and that its events still reach the bot (EventBridge rule, SQS queue, log bucket).",
		w.target(), since)
}

func loggingText(w *warning) string {
	return fmt.Sprintf(":rotating_light: *CloudTrail logging was stopped in %s* (finding %s). "+
		"Until it logs again the bot cannot see changes there; this message will say so when events arrive again.",
		w.target(), w.FindingID)
}

func clearedText(w *warning, last time.Time) string {
	why := "no events had arrived"
	if w.Kind == kindLogging {
		why = fmt.Sprintf("CloudTrail logging had been stopped (finding %s)", w.FindingID)
	}
	return fmt.Sprintf(":white_check_mark: *Events flowing again from %s* (newest from %s). Warned at %s because %s.",
		w.target(), stamp(last), stamp(w.Raised), why)
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// ago renders a duration the way a person says it: "45m", "2h5m", "3d4h".
func ago(d time.Duration) string {
	d = d.Round(time.Minute)
	switch {
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		h := int(d.Hours())
		return fmt.Sprintf("%dh%dm", h, int(d.Minutes())-60*h)
	default:
		days := int(d.Hours()) / 24
		return fmt.Sprintf("%dd%dh", days, int(d.Hours())-24*days)
	}
}
