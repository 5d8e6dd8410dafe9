package core

import (
	"errors"
	"testing"
	"time"
)

func TestTrackerIdleAndReentry(t *testing.T) {
	at := func(s int) time.Time { return time.Unix(int64(s), 0) }
	p0, p1 := PartitionID{"s", 0}, PartitionID{"s", 1}
	tr := NewTracker(WatermarkSpec{Delay: 5, IdleTimeout: 30 * time.Second})
	steps := []struct {
		name string
		do   func()
		now  int
		want int64
	}{
		{"no partitions", func() {}, 0, NoWatermark},
		{"a partition without events holds", func() { tr.Register(p0, at(0)); tr.Register(p1, at(0)) }, 0, NoWatermark},
		{"p1 still without events", func() { tr.MarkActive(p0, at(1)); tr.Observe(p0, 100) }, 1, NoWatermark},
		{"both have events: min - delay", func() { tr.MarkActive(p1, at(2)); tr.Observe(p1, 50) }, 2, 45},
		{"p0 moves on, p1 holds", func() { tr.MarkActive(p0, at(20)); tr.Observe(p0, 200) }, 20, 45},
		{"p1 idle after 30s: excluded", func() { tr.MarkActive(p0, at(32)) }, 32, 195},
		{"p1 returns with old events: no step back", func() { tr.MarkActive(p1, at(40)); tr.Observe(p1, 60) }, 40, 195},
		{"both idle: min over partitions with events", func() {}, 100, 195},
		{"p1 catches up past p0", func() { tr.MarkActive(p1, at(110)); tr.MarkActive(p0, at(110)); tr.Observe(p1, 400) }, 110, 195},
		{"p0 moves: min again", func() { tr.MarkActive(p0, at(111)); tr.Observe(p0, 300) }, 111, 295},
	}
	prev := NoWatermark
	for _, s := range steps {
		s.do()
		if got := tr.Peek(at(s.now)); got != s.want {
			t.Fatalf("%s: Peek = %d, want %d", s.name, got, s.want)
		}
		if got := tr.Advance(at(s.now)); got != s.want || got < prev {
			t.Fatalf("%s: Advance = %d, want %d (previous %d)", s.name, got, s.want, prev)
		}
		prev = tr.Watermark()
	}
	// Round trip through the checkpoint encoding.
	data, err := tr.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	back := NewTracker(WatermarkSpec{Delay: 5, IdleTimeout: 30 * time.Second})
	if err := back.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	for _, s := range []int{111, 140, 141, 500} {
		if a, b := tr.Peek(at(s)), back.Peek(at(s)); a != b {
			t.Fatalf("restored tracker peeks %d at %ds, original %d", b, s, a)
		}
	}
	if err := back.UnmarshalBinary([]byte("{")); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt state: %v", err)
	}
	if next, ok := tr.NextIdleAt(at(111)); !ok || !next.Equal(at(140)) {
		t.Fatalf("NextIdleAt = %v %v, want 140s", next, ok)
	}
}

// TestTrackerProperties checks, over random histories, that the watermark never decreases, that
// it equals an independent computation of its definition, and that a tracker restored from its
// encoding after any step behaves the same.
func TestTrackerProperties(t *testing.T) {
	for seed := range int64(200) {
		r := newRand(seed)
		spec := WatermarkSpec{Delay: int64(r.Intn(20)), IdleTimeout: time.Duration(r.Intn(4)) * 10 * time.Second}
		tr := NewTracker(spec)
		type part struct {
			registered bool
			maxEv      int64
			hasEv      bool
			lastActive time.Time
		}
		model := map[PartitionID]*part{}
		wm := NoWatermark
		now := time.Unix(1000, 0)
		for step := range 60 {
			now = now.Add(time.Duration(r.Intn(15)) * time.Second)
			p := PartitionID{"s", int32(r.Intn(4))}
			m := model[p]
			if m == nil {
				m = &part{}
				model[p] = m
				tr.Register(p, now)
				m.registered, m.lastActive = true, now
			}
			if r.Intn(3) > 0 {
				tr.MarkActive(p, now)
				m.lastActive = now
				for range r.Intn(3) {
					ev := int64(r.Intn(1000))
					tr.Observe(p, ev)
					if !m.hasEv || ev > m.maxEv {
						m.maxEv, m.hasEv = ev, true
					}
				}
			}
			// The definition, computed independently.
			activeMin, idleMin := MaxWatermark, MaxWatermark
			hold, anyActive, anyIdle := false, false, false
			for _, m := range model {
				idle := spec.IdleTimeout > 0 && now.Sub(m.lastActive) >= spec.IdleTimeout
				switch {
				case !idle && !m.hasEv:
					hold = true
				case !idle:
					anyActive = true
					activeMin = min(activeMin, m.maxEv-spec.Delay)
				case m.hasEv:
					anyIdle = true
					idleMin = min(idleMin, m.maxEv-spec.Delay)
				}
			}
			want := wm
			switch {
			case hold:
			case anyActive:
				want = max(wm, activeMin)
			case anyIdle:
				want = max(wm, idleMin)
			}
			got := tr.Advance(now)
			if got != want || got < wm {
				t.Fatalf("seed %d step %d: watermark %d, want %d (was %d)", seed, step, got, want, wm)
			}
			wm = got
			if r.Intn(4) == 0 {
				data, err := tr.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				tr = NewTracker(spec)
				if err := tr.UnmarshalBinary(data); err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
			}
		}
	}
}
