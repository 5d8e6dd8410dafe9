package core

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestWindowAssign(t *testing.T) {
	for _, tc := range []struct {
		spec WindowSpec
		t    int64
		want []Window
	}{
		{Tumbling(10), 0, []Window{{0, 10}}},
		{Tumbling(10), 9, []Window{{0, 10}}},
		{Tumbling(10), 10, []Window{{10, 20}}},
		{Tumbling(10), -1, []Window{{-10, 0}}},
		{Tumbling(10), -10, []Window{{-10, 0}}},
		{Hopping(10, 5), 7, []Window{{0, 10}, {5, 15}}},
		{Hopping(10, 5), 5, []Window{{0, 10}, {5, 15}}},
		{Hopping(10, 5), -2, []Window{{-10, 0}, {-5, 5}}},
		{Hopping(10, 10), 3, []Window{{0, 10}}},
		{Hopping(10, 3), 10, []Window{{3, 13}, {6, 16}, {9, 19}}},
		{Hopping(10, 4), 9, []Window{{0, 10}, {4, 14}, {8, 18}}},
		{Session(5), 7, []Window{{7, 12}}},
	} {
		t.Run(fmt.Sprintf("%s/%d", tc.spec.Kind, tc.t), func(t *testing.T) {
			got := tc.spec.Assign(tc.t)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("Assign(%d) = %v, want %v", tc.t, got, tc.want)
			}
			for _, w := range got {
				if !w.Contains(tc.t) {
					t.Fatalf("window %s does not contain %d", w, tc.t)
				}
			}
		})
	}
}

func TestWindowSpecValidate(t *testing.T) {
	for _, bad := range []WindowSpec{{}, Tumbling(0), Hopping(10, 0), Hopping(10, 11), Session(0), {Kind: 9, Size: 1}} {
		if err := bad.validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: %v, want ErrInvalidConfig", bad, err)
		}
	}
}

func TestSessionsAdd(t *testing.T) {
	const gap = 5
	for _, tc := range []struct {
		name       string
		before     []Window
		t          int64
		wantAt     int
		wantMerged []int
		after      []Window
	}{
		{"first", nil, 10, 0, nil, []Window{{10, 15}}},
		{"before, touching is not overlapping", []Window{{10, 15}}, 5, 0, nil, []Window{{5, 10}, {10, 15}}},
		{"after, at the end is a new session", []Window{{10, 15}}, 15, 1, nil, []Window{{10, 15}, {15, 20}}},
		{"inside", []Window{{10, 15}}, 12, 0, []int{0}, []Window{{10, 17}}},
		{"extends backwards", []Window{{10, 15}}, 7, 0, []int{0}, []Window{{7, 15}}},
		{"bridges two", []Window{{10, 15}, {18, 23}}, 14, 0, []int{0, 1}, []Window{{10, 23}}},
		{"bridges two among others", []Window{{0, 5}, {10, 15}, {18, 23}, {40, 45}}, 14, 1, []int{1, 2}, []Window{{0, 5}, {10, 23}, {40, 45}}},
		{"between, no overlap", []Window{{0, 5}, {20, 25}}, 10, 1, nil, []Window{{0, 5}, {10, 15}, {20, 25}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ss := Sessions{Windows: slices.Clone(tc.before)}
			at, merged := ss.Add(tc.t, gap)
			if at != tc.wantAt || !slices.Equal(merged, tc.wantMerged) || !slices.Equal(ss.Windows, tc.after) {
				t.Fatalf("Add(%d) = %d %v -> %v, want %d %v -> %v", tc.t, at, merged, ss.Windows, tc.wantAt, tc.wantMerged, tc.after)
			}
		})
	}
}
