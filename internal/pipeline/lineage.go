package pipeline

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Lineage is the pipeline's lineage: for each table its inputs, and for each output column the
// input columns it derives from, read from DuckDB's parse tree of its query.
type Lineage struct {
	Tables []TableLineage `json:"tables"`
}

// TableLineage is one node's lineage.
type TableLineage struct {
	Name      string          `json:"name"`
	Kind      string          `json:"kind"`
	Execution string          `json:"execution"`
	Inputs    []LineageInput  `json:"inputs"`
	Columns   []ColumnLineage `json:"columns"`
}

// LineageInput is one input of a table: a table, a topic or a file glob.
type LineageInput struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
}

// ColumnLineage names the input columns (input.column) an output column is computed from.
type ColumnLineage struct {
	Column  string   `json:"column"`
	Sources []string `json:"sources"`
}

// Execution returns how a validated node runs (ModeStream, ModeIncremental, ...).
func (p *Pipeline) Execution(n *Node) string {
	if n.info == nil {
		return ""
	}
	return n.info.mode
}

// ExecutionReason says why a materialized view is recomputed, or which upstream table a
// streaming table is fused with ("" otherwise).
func (p *Pipeline) ExecutionReason(n *Node) string {
	switch {
	case n.info == nil:
		return ""
	case n.info.fusedOnto != "":
		return "reads the source of " + n.info.fusedOnto + " through its query (lateness per source partition)"
	}
	return n.info.reason
}

// ReadsTopics says whether a node reads a log topic (a run then needs the log).
func (p *Pipeline) ReadsTopics() bool {
	for _, n := range p.Nodes {
		for _, in := range n.Inputs {
			if in.kind == refTopic {
				return true
			}
		}
	}
	return false
}

// Lineage computes the pipeline's lineage (after Validate, output columns of * are known).
func (p *Pipeline) Lineage() *Lineage {
	out := &Lineage{}
	for _, n := range p.Nodes {
		tl := TableLineage{Name: n.Name, Kind: n.Kind().String(), Execution: p.Execution(n), Inputs: []LineageInput{}, Columns: []ColumnLineage{}}
		for _, in := range n.Inputs {
			tl.Inputs = append(tl.Inputs, LineageInput{Name: in.Name, Kind: in.Kind()})
		}
		if n.Kind() == StreamingTable && len(n.Flows) > 0 {
			for _, f := range n.Flows {
				tl.Inputs = append(tl.Inputs, LineageInput{Name: f.Name, Kind: "flow"})
			}
		}
		if n.body != nil {
			tl.Columns = columnLineage(n)
		}
		out.Tables = append(out.Tables, tl)
	}
	return out
}

// columnLineage maps each output column of a node's top SELECT to the input columns it reads.
func columnLineage(n *Node) []ColumnLineage {
	tree := n.body.tree
	for tree["type"] == "SET_OPERATION_NODE" { // a union: its first branch names the columns
		ch := list(tree, "children")
		if len(ch) == 0 {
			if l, ok := tree["left"].(node); ok {
				tree = l
				continue
			}
			return nil
		}
		tree, _ = ch[0].(node)
	}
	if tree == nil || tree["type"] != "SELECT_NODE" {
		return nil
	}
	// Which input does a qualifier (alias or table name) stand for?
	byQual := map[string]*Input{}
	for _, in := range n.Inputs {
		if in.ref.alias != "" {
			byQual[strings.ToLower(in.ref.alias)] = in
		}
		parts := strings.Split(in.ref.name, ".")
		byQual[strings.ToLower(parts[len(parts)-1])] = in
	}
	source := func(parts []string) string {
		col := parts[len(parts)-1]
		if len(parts) > 1 {
			if in := byQual[strings.ToLower(parts[len(parts)-2])]; in != nil {
				return in.Name + "." + col
			}
		}
		if len(n.Inputs) == 1 {
			return n.Inputs[0].Name + "." + col
		}
		for _, in := range n.Inputs { // the input whose schema has the column
			if in.Node != nil && in.Node.info != nil && in.Node.info.schema != nil && in.Node.info.schema.FieldIndices(col) != nil {
				return in.Name + "." + col
			}
		}
		return col
	}
	var out []ColumnLineage
	for _, s := range list(tree, "select_list") {
		e, _ := s.(node)
		if e == nil {
			continue
		}
		if e["class"] == "STAR" {
			for _, in := range n.Inputs {
				rel := str(e, "relation_name")
				if rel != "" && byQual[strings.ToLower(rel)] != in {
					continue
				}
				if in.Node != nil && in.Node.info != nil && in.Node.info.schema != nil {
					for _, f := range in.Node.info.schema.Fields() {
						out = append(out, ColumnLineage{Column: f.Name, Sources: []string{in.Name + "." + f.Name}})
					}
				}
			}
			continue
		}
		name := str(e, "alias")
		if name == "" && e["class"] == "COLUMN_REF" {
			parts := columnNames(e)
			name = parts[len(parts)-1]
		}
		if name == "" {
			name = fmt.Sprintf("column%d", len(out))
		}
		seen := map[string]bool{}
		srcs := []string{}
		for _, ref := range columnRefs(e) {
			s := source(ref)
			if !seen[s] {
				seen[s] = true
				srcs = append(srcs, s)
			}
		}
		if len(srcs) == 0 && hasAggregate(e) { // count(*): every row of the inputs
			for _, in := range n.Inputs {
				srcs = append(srcs, in.Name+".*")
			}
		}
		sort.Strings(srcs)
		out = append(out, ColumnLineage{Column: name, Sources: srcs})
	}
	return out
}

// LineageFile is where every run keeps the lineage of the pipeline it ran, relative to the
// project folder.
const LineageFile = ".strata/lineage.json"

// saveLineage writes the lineage of the pipeline as validated to LineageFile. Concurrent calls
// are safe: each writes its own temporary file and renames it over LineageFile.
func (p *Pipeline) saveLineage() error {
	b, err := json.MarshalIndent(p.Lineage(), "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(p.Project.Dir, LineageFile)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	// A temporary file of its own per call: a pipeline serving a stream and its scheduled batches
	// runs several times at once, and a shared temporary name let one rename take the other's file.
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("pipeline: lineage: %w", err)
	}
	_, werr := f.Write(append(b, '\n'))
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(f.Name(), 0o644)
	}
	if werr == nil {
		werr = os.Rename(f.Name(), path)
	}
	if werr != nil {
		os.Remove(f.Name())
		return fmt.Errorf("pipeline: lineage: %w", werr)
	}
	return nil
}

// Text renders the lineage for a terminal.
func (l *Lineage) Text() string {
	var b strings.Builder
	for _, t := range l.Tables {
		fmt.Fprintf(&b, "%s (%s, %s)\n", t.Name, t.Kind, t.Execution)
		for _, in := range t.Inputs {
			fmt.Fprintf(&b, "  <- %s %s\n", in.Kind, in.Name)
		}
		for _, c := range t.Columns {
			fmt.Fprintf(&b, "  %s <- %s\n", c.Column, strings.Join(c.Sources, ", "))
		}
	}
	return b.String()
}

// Dot renders the table graph in Graphviz's dot language.
func (l *Lineage) Dot() string {
	var b strings.Builder
	b.WriteString("digraph pipeline {\n  rankdir=LR;\n  node [shape=box];\n")
	for _, t := range l.Tables {
		shape := "box"
		switch t.Kind {
		case "materialized view":
			shape = "box3d"
		case "temporary view":
			shape = "note"
		case "flow":
			shape = "cds"
		}
		fmt.Fprintf(&b, "  %q [shape=%s, label=%q];\n", t.Name, shape, t.Name+"\n"+t.Kind+", "+t.Execution)
		for _, in := range t.Inputs {
			if in.Kind == "topic" || in.Kind == "files" {
				fmt.Fprintf(&b, "  %q [shape=ellipse];\n", in.Kind+":"+in.Name)
				fmt.Fprintf(&b, "  %q -> %q;\n", in.Kind+":"+in.Name, t.Name)
				continue
			}
			fmt.Fprintf(&b, "  %q -> %q;\n", in.Name, t.Name)
		}
	}
	b.WriteString("}\n")
	return b.String()
}
