package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/stratalake/strata/internal/engine"
)

// newTableOptimizeCmd is `strata table optimize`: the OPTIMIZE statement for a table given by
// location.
func newTableOptimizeCmd(g *globals) *cobra.Command {
	var where, zorderBy string
	var target int64
	cmd := &cobra.Command{
		Use:   "optimize PATH",
		Short: "Compact small data files (or Z-order them by columns) without changing the table's rows",
		Long: "Rewrites data files into files near the target size, committing one OPTIMIZE version with\n" +
			"dataChange=false. Without --zorder-by, the files smaller than the target in each partition are\n" +
			"packed together; with --zorder-by a,b every file of each partition is rewritten with its rows\n" +
			"sorted along a Z-order curve of those columns, so that range filters on them skip most files.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if target < 0 {
				return usageError{fmt.Errorf("--target-file-size must be positive")}
			}
			ctx := cmd.Context()
			e, err := engine.Open(ctx, engine.Options{Storage: g.storageOptions()})
			if err != nil {
				return err
			}
			defer e.Close()
			res, err := e.Optimize(ctx, args[0], engine.OptimizeOptions{Where: where, ZOrderBy: splitList(zorderBy), TargetFileSize: target})
			if err != nil {
				return err
			}
			if g.json {
				return writeJSON(g.stdout, res.Fields())
			}
			fmt.Fprintln(g.stdout, res.Message())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&where, "where", "", "optimize only the partitions matching this predicate over partition columns (e.g. \"date >= '2024-01-01'\")")
	f.StringVar(&zorderBy, "zorder-by", "", "Z-order each partition by these columns (comma-separated)")
	f.Int64Var(&target, "target-file-size", 0, "size of the files written, in bytes (default: delta.targetFileSize or 128 MiB)")
	return cmd
}
