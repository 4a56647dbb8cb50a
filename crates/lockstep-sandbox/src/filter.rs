//! SCIM filters (RFC 7644 §3.4.2.2): parsing `userName eq "ada"`,
//! `emails[type eq "work" and value co "@example.com"]`, `not (…)`, `pr`,
//! `and`/`or` with the RFC's precedence, and evaluating them on a rendered User.
//!
//! Comparisons follow the schema: strings compare case-insensitively unless the
//! attribute is `caseExact` (`id`, `externalId`, references); a multi-valued
//! attribute matches when any of its values does; a complex value without a
//! sub-attribute compares through its `value`. Bad filters are errors, never
//! panics: nesting is capped so hostile input cannot exhaust the stack.

use serde_json::Value;

use super::path::{get_ci, values_at, AttrPath};
use super::schema::is_case_exact;

/// How deep parentheses and value filters may nest.
const MAX_DEPTH: usize = 32;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Present(AttrPath),
    Compare(AttrPath, Op, Value),
    /// `attr[filter]`: some element of multi-valued `attr` matches `filter`.
    ValuePath(AttrPath, Box<Filter>),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Str(String),
    Word(String),
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | '[' | ']' => {
                chars.next();
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    '[' => Token::OpenBracket,
                    _ => Token::CloseBracket,
                });
            }
            '"' => {
                chars.next();
                let mut end = None;
                let mut escaped = false;
                for (i, c) in chars.by_ref() {
                    match c {
                        _ if escaped => escaped = false,
                        '\\' => escaped = true,
                        '"' => {
                            end = Some(i);
                            break;
                        }
                        _ => {}
                    }
                }
                let end = end.ok_or("unterminated string in filter")?;
                // A filter string is a JSON string (RFC 7644 §3.4.2.2).
                let literal: String =
                    serde_json::from_str(&text[start..=end]).map_err(|e| format!("invalid string in filter: {e}"))?;
                tokens.push(Token::Str(literal));
            }
            _ => {
                let mut end = text.len();
                while let Some(&(i, c)) = chars.peek() {
                    if c.is_whitespace() || "()[]\"".contains(c) {
                        end = i;
                        break;
                    }
                    chars.next();
                }
                tokens.push(Token::Word(text[start..end].to_string()));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        token
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword))
    }

    fn expect(&mut self, token: Token, what: &str) -> Result<(), String> {
        match self.next() {
            Some(t) if t == token => Ok(()),
            _ => Err(format!("expected {what} in filter")),
        }
    }

    fn or_expr(&mut self, depth: usize) -> Result<Filter, String> {
        if depth > MAX_DEPTH {
            return Err("filter nests too deeply".into());
        }
        let mut left = self.and_expr(depth)?;
        while self.peek_keyword("or") {
            self.pos += 1;
            let right = self.and_expr(depth)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self, depth: usize) -> Result<Filter, String> {
        let mut left = self.unary(depth)?;
        while self.peek_keyword("and") {
            self.pos += 1;
            let right = self.unary(depth)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self, depth: usize) -> Result<Filter, String> {
        if self.peek_keyword("not") && self.tokens.get(self.pos + 1) == Some(&Token::Open) {
            self.pos += 1;
            return Ok(Filter::Not(Box::new(self.unary(depth + 1)?)));
        }
        match self.next() {
            Some(Token::Open) => {
                let inner = self.or_expr(depth + 1)?;
                self.expect(Token::Close, "')'")?;
                Ok(inner)
            }
            Some(Token::Word(word)) => self.attribute_expr(&word, depth),
            _ => Err("expected an attribute or '(' in filter".into()),
        }
    }

    fn attribute_expr(&mut self, word: &str, depth: usize) -> Result<Filter, String> {
        let path = AttrPath::parse(word)?;
        if self.peek() == Some(&Token::OpenBracket) {
            self.pos += 1;
            let inner = self.or_expr(depth + 1)?;
            self.expect(Token::CloseBracket, "']'")?;
            return Ok(Filter::ValuePath(path, Box::new(inner)));
        }
        let op_text = match self.next() {
            Some(Token::Word(op)) => op.to_ascii_lowercase(),
            _ => return Err(format!("expected an operator after \"{word}\"")),
        };
        let op = match op_text.as_str() {
            "pr" => return Ok(Filter::Present(path)),
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "co" => Op::Co,
            "sw" => Op::Sw,
            "ew" => Op::Ew,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            other => return Err(format!("unknown filter operator \"{other}\"")),
        };
        let value = match self.next() {
            Some(Token::Str(s)) => Value::String(s),
            Some(Token::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => serde_json::from_str::<serde_json::Number>(&w)
                    .map(Value::Number)
                    .map_err(|_| format!("invalid comparison value \"{w}\""))?,
            },
            _ => return Err(format!("expected a value after \"{word} {op_text}\"")),
        };
        Ok(Filter::Compare(path, op, value))
    }
}

impl Filter {
    /// Parses a filter expression.
    pub fn parse(text: &str) -> Result<Filter, String> {
        let mut parser = Parser { tokens: tokenize(text)?, pos: 0 };
        let filter = parser.or_expr(0)?;
        if parser.pos < parser.tokens.len() {
            return Err("unexpected text at the end of the filter".into());
        }
        Ok(filter)
    }

    /// Whether a rendered User matches.
    pub fn matches(&self, resource: &Value) -> bool {
        self.eval(resource, None)
    }

    /// Whether one element of multi-valued `parent` matches (a value filter).
    pub fn matches_element(&self, element: &Value, parent: &AttrPath) -> bool {
        self.eval(element, Some(parent))
    }

    /// `parent` is set inside a value filter: paths then name sub-attributes.
    fn eval(&self, node: &Value, parent: Option<&AttrPath>) -> bool {
        match self {
            Filter::And(a, b) => a.eval(node, parent) && b.eval(node, parent),
            Filter::Or(a, b) => a.eval(node, parent) || b.eval(node, parent),
            Filter::Not(inner) => !inner.eval(node, parent),
            Filter::Present(path) => values_at(node, path).into_iter().any(is_present),
            Filter::ValuePath(path, inner) => {
                values_at(node, path).into_iter().any(|element| inner.eval(element, Some(path)))
            }
            Filter::Compare(path, op, expected) => {
                let case_exact = match parent {
                    Some(p) => is_case_exact(p.urn, &p.attr, Some(&path.attr)),
                    None => is_case_exact(path.urn, &path.attr, path.sub.as_deref()),
                };
                let values = values_at(node, path);
                let values = values.into_iter().map(|v| get_ci(v, "value").filter(|_| v.is_object()).unwrap_or(v));
                if *op == Op::Ne {
                    return !values.into_iter().any(|v| compare(v, Op::Eq, expected, case_exact));
                }
                let mut values = values.peekable();
                if expected.is_null() && *op == Op::Eq && values.peek().is_none() {
                    return true;
                }
                values.any(|v| compare(v, *op, expected, case_exact))
            }
        }
    }
}

fn is_present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

fn compare(actual: &Value, op: Op, expected: &Value, case_exact: bool) -> bool {
    use std::cmp::Ordering;
    let ordering: Option<Ordering> = match (actual, expected) {
        (Value::String(a), Value::String(e)) => {
            let (a, e) = if case_exact { (a.clone(), e.clone()) } else { (a.to_lowercase(), e.to_lowercase()) };
            match op {
                Op::Co => return a.contains(&e),
                Op::Sw => return a.starts_with(&e),
                Op::Ew => return a.ends_with(&e),
                _ => Some(a.cmp(&e)),
            }
        }
        (Value::Number(a), Value::Number(e)) => a.as_f64().zip(e.as_f64()).and_then(|(a, e)| a.partial_cmp(&e)),
        (Value::Bool(a), Value::Bool(e)) if matches!(op, Op::Eq) => Some(a.cmp(e)),
        (a, e) if matches!(op, Op::Eq) => Some(if a == e { Ordering::Equal } else { Ordering::Less }),
        _ => None,
    };
    let Some(ordering) = ordering else {
        return false;
    };
    match op {
        Op::Eq => ordering == Ordering::Equal,
        Op::Ne => ordering != Ordering::Equal,
        Op::Gt => ordering == Ordering::Greater,
        Op::Ge => ordering != Ordering::Less,
        Op::Lt => ordering == Ordering::Less,
        Op::Le => ordering != Ordering::Greater,
        Op::Co | Op::Sw | Op::Ew => false,
    }
}

#[cfg(test)]
#[path = "filter_tests.rs"]
mod tests;
