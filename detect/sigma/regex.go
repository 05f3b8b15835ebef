package sigma

import (
	"regexp/syntax"
	"unicode/utf8"
)

// requiredLiteral returns a literal that every match of the regular
// expression contains, and whether it is compared ignoring case, so that
// the expression only runs on text holding it: a rule such as
// "userIdentity.arn|re: ':assumed-role/aws:.+'" runs on every record, and
// a substring search is many times cheaper than the expression.
func requiredLiteral(expr string) (string, bool) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return "", false
	}
	lit, fold := longestRequired(re.Simplify())
	if fold {
		// indexFold folds ASCII only.
		for i := 0; i < len(lit); i++ {
			if lit[i] >= utf8.RuneSelf {
				return "", false
			}
		}
		lit = lowerASCII(lit)
	}
	return lit, fold
}

func longestRequired(re *syntax.Regexp) (string, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		return string(re.Rune), re.Flags&syntax.FoldCase != 0
	case syntax.OpCapture, syntax.OpPlus:
		return longestRequired(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return longestRequired(re.Sub[0])
		}
	case syntax.OpConcat:
		best, fold := "", false
		for _, sub := range re.Sub {
			if l, f := longestRequired(sub); len(l) > len(best) {
				best, fold = l, f
			}
		}
		return best, fold
	}
	return "", false
}

// containsLiteral reports whether s holds lit (lower-cased when fold),
// whose least common byte is at rare.
func containsLiteral(s, lit string, fold bool, rare int) bool {
	if fold {
		return indexFold(s, lit, rare) >= 0
	}
	return indexCased(s, lit, rare) >= 0
}
