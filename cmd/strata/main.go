// Command strata is the Strata data platform in one binary. See README.md.
package main

import (
	"os"

	"github.com/stratalake/strata/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
