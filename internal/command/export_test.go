package command

import "context"

// MainContext runs the command as Main does, with ctx standing for the
// signals: cancelling it is a SIGTERM.
func (c *Command) MainContext(ctx context.Context, args []string, env Env) int {
	return c.mainContext(ctx, func() {}, args, env)
}
