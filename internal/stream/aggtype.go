package stream

import "github.com/apache/arrow-go/v18/arrow"

// AggregateType is the type of an aggregate's output column over an input column of type in
// (count: BIGINT; sum of integers: BIGINT, of decimals: DECIMAL(38, s); avg of integers and
// floats: DOUBLE, of decimals: DECIMAL(38, s+4); min and max: the input's type), as the runtime
// writes it. It wraps ErrTransformOutput for a type the aggregate cannot take.
func AggregateType(f AggFunc, in arrow.DataType) (arrow.DataType, error) { return aggOutputType(f, in) }
