package plan

import (
	"fmt"
	"strconv"
)

// Mode is a permission mode written as an octal string ("0640") in the plan, as people write it.
type Mode uint32

// ParseMode reads an octal permission string such as "0640" or "750".
func ParseMode(s string) (Mode, error) {
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o7777 || s == "" {
		return 0, fmt.Errorf("invalid mode %q (want octal, e.g. \"0640\")", s)
	}
	return Mode(v), nil
}

func (m Mode) String() string { return fmt.Sprintf("%04o", uint32(m)) }

// MarshalText writes the mode as four octal digits.
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText reads an octal mode.
func (m *Mode) UnmarshalText(b []byte) error {
	v, err := ParseMode(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}
