package delta

import "strconv"

// DeletionVector is the DeletionVectorDescriptor of an add or remove action: where to find the set
// of row indexes (0-based positions in the data file) that are logically deleted.
type DeletionVector struct {
	// StorageType is "u" (file relative to the table, named from a UUID), "i" (inline, Z85 in
	// PathOrInlineDV) or "p" (absolute path).
	StorageType    string `json:"storageType"`
	PathOrInlineDV string `json:"pathOrInlineDv"`
	// Offset of the DV inside its file; nil for inline DVs (read as 0 otherwise).
	Offset      *int32 `json:"offset,omitempty"`
	SizeInBytes int32  `json:"sizeInBytes"`
	Cardinality int64  `json:"cardinality"`
}

// UniqueID identifies the DV for log reconciliation: storageType + pathOrInlineDv, plus "@offset"
// when an offset is present.
func (dv *DeletionVector) UniqueID() string {
	id := dv.StorageType + dv.PathOrInlineDV
	if dv.Offset != nil {
		id += "@" + strconv.FormatInt(int64(*dv.Offset), 10)
	}
	return id
}
