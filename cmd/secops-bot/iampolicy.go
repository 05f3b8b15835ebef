package main

import (
	"fmt"
	"io"
	"regexp"

	"github.com/spf13/cobra"

	"github.com/secops-bot/secops-bot/internal/app"
	"github.com/secops-bot/secops-bot/internal/iampolicy"
)

// arnRe matches an IAM role or user ARN.
var arnRe = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[\w+=,.@/-]+$`)

func newIAMPolicy(g *globalFlags, stdout, stderr io.Writer) *cobra.Command {
	var member, memberWrite bool
	var botARN string
	cmd := &cobra.Command{
		Use:   "iam-policy [--member | --member-write] [--bot-arn ARN]",
		Short: "Print the IAM policy the bot's role (or a member-account role) needs for this configuration",
		Long: `iam-policy prints the least-privilege IAM policy for the features the
configuration turns on: by default the policy of the bot's own role (the
event queue, CloudTrail log objects, the organisation's account list,
assuming the member roles); with --member the policy of the read-only role
it assumes in each member account (reading state, containment previews,
backfill); with --member-write the policy of the role it assumes there for
each confirmed change (containment and undo, break-glass grants and
revocations), each session of which it limits to that one change. Both
member roles deny any change to the bot's own roles and users and to the
trust of the break-glass roles. Without a member write role configured the
member role makes the changes too, and --member prints its statements.
--bot-arn names the bot's own role (or user): the canary tags only it, and
the member roles are denied changes to it as well; without it any role or
user of the account may be tagged, with the canary's tag only.
deploy/cloudformation holds the same policies as templates.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if g.logLevel == "" {
				g.logLevel = "warn"
			}
			l, _, err := load(g, stderr)
			if err != nil {
				return err
			}
			opts, err := app.IAMPolicyOptions(l.Config)
			if err != nil {
				return err
			}
			if botARN != "" && !arnRe.MatchString(botARN) {
				return fmt.Errorf("--bot-arn %q: want the bot's role or user ARN, such as arn:aws:iam::111122223333:role/secops-bot", botARN)
			}
			if member && memberWrite {
				return fmt.Errorf("--member and --member-write each print one policy; give one of them")
			}
			opts.BotARN = botARN
			bot, memberDoc, writeDoc := iampolicy.Policies(opts)
			doc := bot
			switch {
			case member:
				doc = memberDoc
			case memberWrite:
				doc = writeDoc
				if opts.MemberWriteRoleName == "" && len(opts.MemberWriteRoleARNs) == 0 {
					fmt.Fprintln(stderr, "no member write role is configured: the member role makes the changes, and iam-policy --member prints its whole policy")
				}
			}
			if len(doc.Statement) == 0 {
				// IAM refuses an empty policy; say why it is empty.
				fmt.Fprintln(stderr, "this configuration makes no AWS calls with this role: it needs no policy")
			}
			_, err = stdout.Write(doc.JSON())
			return err
		},
	}
	cmd.Flags().BoolVar(&member, "member", false, "print the read-only member-account role's policy instead of the bot's")
	cmd.Flags().BoolVar(&memberWrite, "member-write", false, "print the member-account write role's policy instead of the bot's")
	cmd.Flags().StringVar(&botARN, "bot-arn", "", "the bot's own role or user ARN, the only principal the canary tags")
	return cmd
}
