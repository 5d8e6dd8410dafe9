// Package pipeline is Strata's declarative pipeline layer: tables declared in SQL files in the
// style of Spark Declarative Pipelines and Delta Live Tables (CREATE STREAMING TABLE, CREATE
// MATERIALIZED VIEW, CREATE TEMPORARY VIEW, expectations, WATERMARK, AUTO CDC flows), resolved
// into a DAG and run as a batch (everything available once) or as a stream (continuously), with
// the same checkpoints and the same results.
//
// The parts:
//   - syntax.go: the statement headers (the DDL DuckDB does not know), by tokens;
//   - parsetree.go, analyze.go: query bodies read with DuckDB's own parser (json_serialize_sql):
//     references, dedup clauses, aggregates, lineage; generated SQL comes back out of DuckDB's
//     serializer (json_deserialize_sql);
//   - pipeline.go (this file): loading a project's files, resolving names, the DAG;
//   - validate.go: type-checking every query against its inputs' schemas;
//   - compile.go: each table as a streaming query of the runtime (package stream) or a refresh;
//   - run.go: batch and stream runs; events.go: the pipeline event log; lineage.go.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/stratalake/strata/internal/engine"
	"github.com/stratalake/strata/internal/project"
)

// ErrInvalid: the pipeline has errors (each a *ValidationError or *SyntaxError, joined).
var ErrInvalid = errors.New("invalid pipeline")

// ValidationError is a semantic error of a pipeline at a position: an unknown table or column, a
// cycle, a non-boolean expectation.
type ValidationError struct {
	Pos Pos
	Msg string
}

func (e *ValidationError) Error() string { return e.Pos.String() + ": " + e.Msg }

// Node is one declared object of the pipeline: a streaming table, a materialized view, a
// temporary view, or a flow.
type Node struct {
	Stmt *Statement
	// Name is the qualified name: domain.table for tables, the bare name for temporary views
	// and flows.
	Name string
	// Domain and Table split Name for tables.
	Domain, Table string
	// Location is where a table is stored.
	Location string
	// Inputs are the references of the node's query (for flows: the stream source).
	Inputs []*Input
	// Flows are the AUTO CDC flows writing into this streaming table; Target is a flow's table.
	Flows  []*Node
	Target *Node
	// Deps are the nodes this one reads (pipeline inputs, a flow's target's flows for a target).
	Deps []*Node
	// Schedule is the cron expression of the pipelines entry that lists the node's file ("": the
	// node runs continuously under strata serve; see Pipeline.Serve).
	Schedule string

	body *body // the parsed query body (nil for flows and CDC targets)
	// info is filled by Validate: output schema, compile decisions.
	info *nodeInfo
}

// Kind is the node's statement kind.
func (n *Node) Kind() StatementKind { return n.Stmt.Kind }

// Input is one reference of a node's query.
type Input struct {
	kind refKind
	// Name is the resolved name: domain.table for tables, the view name, the topic or the glob.
	Name string
	// Node is the pipeline node read, if the input is one (nil for project tables, topics,
	// files).
	Node *Node
	// Pos is where the query references it.
	Pos Pos
	ref *reference
}

// Stream says whether the input is read incrementally (STREAM(...)).
func (in *Input) Stream() bool { return in.kind != refTable }

// Kind names the input's kind: "table", "stream", "topic" or "files".
func (in *Input) Kind() string {
	return [...]string{"", "table", "stream", "topic", "files"}[in.kind]
}

// Pipeline is a project's pipeline files, parsed and resolved into a DAG.
type Pipeline struct {
	Project *project.Project
	// Nodes are in dependency order: every node after the nodes it reads.
	Nodes  []*Node
	byName map[string]*Node

	eng    *engine.Engine
	parser *duckParser
}

// Node returns the node of a name (domain.table, a bare table name of the default domain, a
// view or a flow), or nil.
func (p *Pipeline) Node(name string) *Node {
	if n := p.byName[strings.ToLower(name)]; n != nil {
		return n
	}
	return p.byName[strings.ToLower(project.DefaultDomain+"."+name)]
}

// Load parses the project's pipeline files (strata.yaml's pipelines: globs), reads every query
// body with DuckDB's parser, resolves names and orders the DAG. Errors carry file:line:col; all
// errors found are returned, joined, wrapping ErrInvalid.
func Load(ctx context.Context, proj *project.Project, eng *engine.Engine) (*Pipeline, error) {
	files, err := proj.PipelineFiles()
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("pipeline: %s lists no pipeline files (add pipelines: [\"pipelines/*.sql\"])", proj.File)
	}
	parser, err := newDuckParser(ctx, eng)
	if err != nil {
		return nil, err
	}
	p := &Pipeline{Project: proj, byName: map[string]*Node{}, eng: eng, parser: parser}
	var errs []error
	var nodes []*Node
	for _, f := range files {
		src, err := os.ReadFile(f.Path)
		if err != nil {
			return nil, fmt.Errorf("pipeline: %w", err)
		}
		rel, _ := filepath.Rel(proj.Dir, f.Path)
		stmts, err := ParseFile(rel, src)
		if err != nil {
			errs = append(errs, err)
		}
		if f.Entry.Schedule != "" {
			if _, err := ParseSchedule(f.Entry.Schedule); err != nil {
				return nil, fmt.Errorf("pipeline: %s: pipelines entry of %s: %w", proj.File, rel, err)
			}
		}
		for _, st := range stmts {
			n, err := p.declare(st, f.Domain())
			if err != nil {
				errs = append(errs, err)
				continue
			}
			n.Schedule = f.Entry.Schedule
			nodes = append(nodes, n)
		}
	}
	for _, n := range nodes {
		if err := p.readBody(ctx, n); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		errs = append(errs, p.resolve(nodes)...)
	}
	if len(errs) == 0 {
		if err := p.order(nodes); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, invalid(errs)
	}
	return p, nil
}

func invalid(errs []error) error {
	return fmt.Errorf("%w:\n%w", ErrInvalid, errors.Join(errs...))
}

// declare names a statement's node and registers it.
func (p *Pipeline) declare(st *Statement, domain string) (*Node, error) {
	n := &Node{Stmt: st}
	switch st.Kind {
	case TemporaryView, Flow:
		if strings.Contains(st.Name, ".") {
			return nil, &ValidationError{st.NamePos, fmt.Sprintf("%s name %q cannot have a domain", st.Kind, st.Name)}
		}
		n.Name = st.Name
	default:
		d, t := domain, st.Name
		if i := strings.IndexByte(st.Name, '.'); i >= 0 {
			d, t = st.Name[:i], st.Name[i+1:]
		}
		loc, err := p.Project.TableLocation(d, t)
		if err != nil {
			return nil, &ValidationError{st.NamePos, err.Error()}
		}
		n.Name, n.Domain, n.Table, n.Location = d+"."+t, d, t, loc
	}
	key := strings.ToLower(n.Name)
	if prev := p.byName[key]; prev != nil {
		return nil, &ValidationError{st.NamePos, fmt.Sprintf("%s is already declared at %s", n.Name, prev.Stmt.Pos)}
	}
	p.byName[key] = n
	return n, nil
}

// readBody parses a node's query with DuckDB and collects its references.
func (p *Pipeline) readBody(ctx context.Context, n *Node) error {
	st := n.Stmt
	text := st.Query
	if st.Kind == Flow {
		// The flow's source is read as the body SELECT * FROM STREAM(source).
		text = ""
	}
	if strings.TrimSpace(text) == "" {
		if st.Kind == MaterializedView || st.Kind == TemporaryView {
			return &ValidationError{st.Pos, fmt.Sprintf("%s %s needs AS SELECT ...", st.Kind, n.Name)}
		}
		if st.Kind == Flow {
			return p.readFlowSource(ctx, n)
		}
		return nil // a CDC target
	}
	tree, err := p.parser.parse(ctx, text)
	if err != nil {
		return p.bodyError(st, err)
	}
	b, err := readBody(tree)
	if err != nil {
		return p.bodyError(st, err)
	}
	n.body = b
	return nil
}

// readFlowSource parses an AUTO CDC flow's source as SELECT * FROM STREAM(source).
func (p *Pipeline) readFlowSource(ctx context.Context, n *Node) error {
	cdc := n.Stmt.CDC
	tree, err := p.parser.parse(ctx, "SELECT * FROM STREAM("+cdc.Source+")")
	if err != nil {
		if pe, ok := err.(*parseError); ok {
			return &ValidationError{cdc.SourcePos, "in STREAM(...): " + pe.Msg}
		}
		return err
	}
	b, err := readBody(tree)
	if err != nil {
		if pe, ok := err.(*parseError); ok {
			return &ValidationError{cdc.SourcePos, pe.Msg}
		}
		return err
	}
	for _, r := range b.refs {
		r.offset = -1 // positions are those of the flow's source
	}
	n.body = b
	return nil
}

// bodyError turns a parse error into a ValidationError at its file position.
func (p *Pipeline) bodyError(st *Statement, err error) error {
	var pe *parseError
	if errors.As(err, &pe) {
		pos := st.QueryPos
		if pe.Offset >= 0 && pe.Offset <= len(st.Query) {
			pos = st.PosAt(pe.Offset)
		}
		return &ValidationError{pos, pe.Msg}
	}
	return fmt.Errorf("%s: %w", st.Pos, err)
}

// refPos is the file position of a reference.
func refPos(st *Statement, r *reference) Pos {
	if st.Kind == Flow {
		return st.CDC.SourcePos
	}
	if r.offset >= 0 && r.offset <= len(st.Query) {
		return st.PosAt(r.offset)
	}
	return st.QueryPos
}

// resolve turns references into inputs: pipeline nodes, project tables, topics, file globs.
func (p *Pipeline) resolve(nodes []*Node) []error {
	var errs []error
	for _, n := range nodes {
		st := n.Stmt
		if st.Kind == Flow {
			t := p.lookup(st.CDC.Target, n)
			switch {
			case t == nil:
				errs = append(errs, &ValidationError{st.CDC.TargetPos, fmt.Sprintf("unknown table %s: declare it with CREATE STREAMING TABLE %s", st.CDC.Target, st.CDC.Target)})
				continue
			case t.Kind() != StreamingTable || t.Stmt.Query != "":
				errs = append(errs, &ValidationError{st.CDC.TargetPos, fmt.Sprintf("the target of AUTO CDC must be a streaming table declared without a query (CREATE STREAMING TABLE %s;), %s is a %s declared at %s", t.Name, t.Name, t.Kind(), t.Stmt.Pos)})
				continue
			}
			if len(t.Flows) > 0 {
				errs = append(errs, &ValidationError{st.Pos, fmt.Sprintf("%s already has the AUTO CDC flow %s (%s): one flow per target", t.Name, t.Flows[0].Name, t.Flows[0].Stmt.Pos)})
				continue
			}
			n.Target = t
			t.Flows = append(t.Flows, n)
			t.Deps = append(t.Deps, n)
		}
		if n.body == nil {
			continue
		}
		for _, r := range n.body.refs {
			pos := refPos(st, r)
			in := &Input{kind: r.kind, Name: r.name, Pos: pos, ref: r}
			switch r.kind {
			case refTopic, refFiles:
				if n.Kind() != StreamingTable && n.Kind() != Flow {
					errs = append(errs, &ValidationError{pos, fmt.Sprintf("%s reads a source incrementally: only streaming tables and flows can; a %s reads tables", r.display(), n.Kind())})
					continue
				}
			default:
				if r.kind == refStream && n.Kind() != StreamingTable && n.Kind() != Flow {
					errs = append(errs, &ValidationError{pos, fmt.Sprintf("%s: only streaming tables and flows read streams; a %s reads its inputs whole (drop STREAM)", r.display(), n.Kind())})
					continue
				}
				dep := p.lookup(r.name, n)
				if dep == nil {
					qualified := r.name
					if !strings.Contains(qualified, ".") {
						errs = append(errs, &ValidationError{pos, fmt.Sprintf("unknown table %s: it is not declared in the pipeline (tables of other domains are written domain.table)", r.name)})
						continue
					}
					d, t, _ := strings.Cut(qualified, ".")
					loc, err := p.Project.TableLocation(d, t)
					if err != nil {
						errs = append(errs, &ValidationError{pos, err.Error()})
						continue
					}
					if !tableExists(loc) {
						shown := loc
						if rel, err := filepath.Rel(p.Project.Dir, loc); err == nil && !strings.HasPrefix(rel, "..") {
							shown = rel
						}
						errs = append(errs, &ValidationError{pos, fmt.Sprintf("unknown table %s: not declared in the pipeline and no table exists at %s", qualified, shown)})
						continue
					}
					in.Name = d + "." + t
				} else {
					if dep.Kind() == Flow {
						errs = append(errs, &ValidationError{pos, fmt.Sprintf("%s is a flow, not a table: read its target %s", dep.Name, dep.Target.Name)})
						continue
					}
					if dep.Kind() == TemporaryView && r.kind == refStream {
						errs = append(errs, &ValidationError{pos, fmt.Sprintf("STREAM(%s): a temporary view cannot be streamed; stream the table it reads", dep.Name)})
						continue
					}
					in.Node, in.Name = dep, dep.Name
					n.Deps = append(n.Deps, dep)
				}
			}
			n.Inputs = append(n.Inputs, in)
		}
	}
	for _, n := range nodes {
		if n.Kind() == StreamingTable && n.Stmt.Query == "" && len(n.Flows) == 0 {
			errs = append(errs, &ValidationError{n.Stmt.Pos, fmt.Sprintf("streaming table %s has no query and no AUTO CDC flow writes into it", n.Name)})
		}
	}
	return errs
}

// lookup finds the pipeline node a name refers to from node from: a bare name is a temporary
// view, a flow, or a table of from's domain; domain.table is a table.
func (p *Pipeline) lookup(name string, from *Node) *Node {
	key := strings.ToLower(name)
	if strings.Contains(key, ".") {
		return p.byName[key]
	}
	if n := p.byName[key]; n != nil {
		return n
	}
	domain := from.Domain
	if domain == "" { // views and flows: the domain of their file's tables
		domain = fileDomain(p, from)
	}
	return p.byName[strings.ToLower(domain)+"."+key]
}

// fileDomain is the default domain of the file a node is declared in.
func fileDomain(p *Pipeline, n *Node) string {
	files, _ := p.Project.PipelineFiles()
	for _, f := range files {
		if rel, _ := filepath.Rel(p.Project.Dir, f.Path); rel == n.Stmt.Pos.File {
			return f.Domain()
		}
	}
	return project.DefaultDomain
}

// order sorts the nodes so that each comes after its dependencies (stable: declaration order
// otherwise) and reports a cycle with the path and the positions of its references.
func (p *Pipeline) order(nodes []*Node) error {
	const (
		white = iota
		grey
		black
	)
	color := map[*Node]int{}
	var stack []*Node
	var cycle error
	var visit func(n *Node)
	visit = func(n *Node) {
		if cycle != nil {
			return
		}
		color[n] = grey
		stack = append(stack, n)
		for _, d := range n.Deps {
			switch color[d] {
			case grey:
				i := len(stack) - 1
				for stack[i] != d {
					i--
				}
				path := []string{}
				for _, s := range stack[i:] {
					path = append(path, s.Name)
				}
				path = append(path, d.Name)
				cycle = &ValidationError{n.Stmt.Pos, "cycle: " + strings.Join(path, " -> ") + " (each table must be computed from tables before it)"}
				return
			case white:
				visit(d)
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
		p.Nodes = append(p.Nodes, n)
	}
	for _, n := range nodes {
		if color[n] == white {
			visit(n)
		}
	}
	return cycle
}

// Tables returns the stored nodes (streaming tables and materialized views) sorted by name.
func (p *Pipeline) Tables() []*Node {
	var out []*Node
	for _, n := range p.Nodes {
		if n.Location != "" {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// tableExists says whether a local table has a committed version. The _delta_log folder alone
// does not make a table: a table being created (by another node of a stream run) has the folder
// before its first commit, and reading it then fails with delta.ErrNotATable.
func tableExists(loc string) bool {
	if strings.Contains(loc, "://") {
		return true // remote tables are checked when read
	}
	dir := filepath.Join(loc, "_delta_log")
	for _, f := range []string{"00000000000000000000.json", "_last_checkpoint"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return true
		}
	}
	entries, err := os.ReadDir(dir) // version 0 cleaned up without a _last_checkpoint
	if err != nil {
		return false
	}
	for _, e := range entries {
		n := e.Name()
		if !strings.HasPrefix(n, ".") && (strings.HasSuffix(n, ".json") || strings.HasSuffix(n, ".checkpoint.parquet")) {
			return true
		}
	}
	return false
}
