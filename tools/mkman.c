/*
 * mkman - corio's man pages, made from the doc blocks of include/corio.h.
 *
 *   mkman [--check] [--out DIR] [--examples DIR] [--list]
 *         [--version V] [--date YYYY-MM-DD] corio.h
 *
 * The header is the one source of the reference: every function it declares
 * is described by a doc block (a comment opened by "slash-star-equals"),
 * whose shape docs/man-format.md specifies. From it mkman writes
 *
 *   DIR/man3/NAME.3   one page per doc block, named after its first name
 *   DIR/man3/ALIAS.3  ".so man3/NAME.3" for every other name of the block
 *   DIR/man7/corio.7  the overview: the header's top comment, then one
 *                     section per banner comment with the pages under it
 *
 * --examples DIR writes each EXAMPLE that is a complete program (it has
 * "int main(") to DIR/NAME.c, for the docs test to compile and run.
 * --list prints "page name" per function name, one per line.
 * --check only checks. Every rule the format states is checked, always; a
 * violation prints "file:line: what" and the exit status is 1, with nothing
 * written: the build stops rather than install a page that lies.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum sect { S_DESC, S_RET, S_ERR, S_NOTES, S_ENV, S_EXAMPLE, S_BUGS, S_SEE, S_N };

static const char *const sect_name[S_N] = {
	"DESCRIPTION", "RETURN VALUE", "ERRORS", "NOTES", "ENVIRONMENT", "EXAMPLE", "BUGS", "SEE ALSO",
};

struct line {
	char *text; /* the comment text, margin removed ("" for an empty line) */
	int   lineno;
};

struct block {
	int          lineno;
	char       **names;
	int          nnames;
	char        *summary;
	struct line *body[S_N];
	int          nbody[S_N];
	bool         has[S_N];
	char       **synopsis;
	int          nsyn;
	int          banner; /* index of the banner it sits under, -1 none */
};

struct banner {
	char        *title;
	struct line *text;
	int          ntext;
};

static const char *path;
static int         errors;

static struct block  *blocks;
static int            nblocks;
static struct banner *banners;
static int            nbanners;
static struct line   *top;
static int            ntop;
static char          *top_summary;

static void fail(int lineno, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: ", path, lineno);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	errors++;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		perror("mkman");
		exit(2);
	}
	return p;
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);

	if (!d) {
		perror("mkman");
		exit(2);
	}
	return d;
}

#define PUSH(arr, n, v)                                                   \
	do {                                                              \
		(arr) = xrealloc((arr), sizeof(*(arr)) * (size_t)((n) + 1)); \
		(arr)[(n)++] = (v);                                       \
	} while (0)

/* ------------------------------------------------------------------------
 * Reading the header
 * ------------------------------------------------------------------------ */

static char **lines;
static int    nlines;

static void read_file(const char *p)
{
	FILE   *f = fopen(p, "r");
	char   *buf = NULL;
	size_t  cap = 0;
	ssize_t n;

	if (!f) {
		fprintf(stderr, "mkman: %s: %s\n", p, strerror(errno));
		exit(2);
	}
	while ((n = getline(&buf, &cap, f)) >= 0) {
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
			buf[--n] = 0;
		PUSH(lines, nlines, xstrdup(buf));
	}
	free(buf);
	fclose(f);
}

/* The text of a comment body line: " * text" -> "text", " *" -> "". Returns
 * NULL when the line is not a body line. */
static const char *body_text(const char *l)
{
	if (strcmp(l, " *") == 0)
		return "";
	if (strncmp(l, " * ", 3) == 0)
		return l + 3;
	return NULL;
}

static bool is_rule(const char *l)
{
	return strstr(l, "-----------") != NULL;
}

static int heading(const char *t)
{
	for (int s = 0; s < S_N; s++)
		if (strcmp(t, sect_name[s]) == 0)
			return s;
	return -1;
}

static bool blank(const char *s)
{
	while (*s == ' ')
		s++;
	return *s == 0;
}

static void parse_names(struct block *b, char *spec, int lineno)
{
	char *dash = strstr(spec, " - ");
	char *tok, *save;

	if (!dash) {
		fail(lineno, "doc block opening needs \"NAME[, NAME...] - summary\"");
		return;
	}
	*dash = 0;
	b->summary = xstrdup(dash + 3);
	if (!*b->summary || b->summary[strlen(b->summary) - 1] == '.')
		fail(lineno, "summary is empty or ends with a period");
	for (tok = strtok_r(spec, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		if (strncmp(tok, "corio_", 6) != 0)
			fail(lineno, "name '%s' is not a corio_ function", tok);
		PUSH(b->names, b->nnames, xstrdup(tok));
	}
	if (b->nnames == 0)
		fail(lineno, "doc block names no function");
}

static void parse_block(int *ip)
{
	struct block b = { .lineno = *ip + 1, .banner = nbanners - 1 };
	int          i = *ip, cur = S_DESC, last = -1;
	char        *spec = xstrdup(lines[i] + 3);

	while (*spec == ' ')
		memmove(spec, spec + 1, strlen(spec));
	parse_names(&b, spec, i + 1);
	free(spec);
	for (i++; i < nlines; i++) {
		const char *l = lines[i], *t;
		int         h;

		if (strcmp(l, " */") == 0)
			break;
		t = body_text(l);
		if (!t) {
			fail(i + 1, "doc block line must be \" * text\" or \" *\"; got \"%s\"", l);
			continue;
		}
		if (strchr(t, '\t'))
			fail(i + 1, "tab inside doc text");
		h = heading(t);
		if (h >= 0) {
			if (h <= last)
				fail(i + 1, "section %s out of order or repeated", t);
			last = cur = h;
			b.has[h] = true;
			continue;
		}
		if (cur == S_DESC && !blank(t))
			b.has[S_DESC] = true;
		PUSH(b.body[cur], b.nbody[cur], ((struct line){ xstrdup(t), i + 1 }));
	}
	if (i == nlines) {
		fail(b.lineno, "doc block never closed with \" */\"");
		*ip = i;
		return;
	}
	for (i++; i < nlines && !blank(lines[i]); i++)
		PUSH(b.synopsis, b.nsyn, xstrdup(lines[i]));
	*ip = i;
	PUSH(blocks, nblocks, b);
}

static void parse_banner(int *ip)
{
	struct banner bn = { 0 };
	int           i = *ip + 1;
	const char   *t;

	t = i < nlines ? body_text(lines[i]) : NULL;
	if (!t || blank(t)) {
		fail(i + 1, "banner needs a title line");
		*ip = i;
		return;
	}
	bn.title = xstrdup(t);
	for (i++; i < nlines && !is_rule(lines[i]); i++) {
		t = body_text(lines[i]);
		if (!t) {
			fail(i + 1, "banner line must be \" * text\"");
			continue;
		}
		PUSH(bn.text, bn.ntext, ((struct line){ xstrdup(t), i + 1 }));
	}
	*ip = i;
	PUSH(banners, nbanners, bn);
}

static void parse_top(void)
{
	int         i = 1;
	const char *t;

	if (nlines < 2 || strcmp(lines[0], "/*") != 0 || !(t = body_text(lines[1])) ||
	    strncmp(t, "corio.h - ", 10) != 0) {
		fail(1, "the header must open with \"/*\" then \" * corio.h - summary\"");
		return;
	}
	top_summary = xstrdup(t + 10);
	if (*top_summary && top_summary[strlen(top_summary) - 1] == '.')
		top_summary[strlen(top_summary) - 1] = 0;
	for (i = 2; i < nlines && strcmp(lines[i], " */") != 0; i++) {
		t = body_text(lines[i]);
		if (t)
			PUSH(top, ntop, ((struct line){ xstrdup(t), i + 1 }));
	}
}

/* Declarations outside doc blocks: every "corio_x(" in code must be named by
 * a doc block. Comments are skipped. */
static void check_declared(void)
{
	bool in_comment = false;

	for (int i = 0; i < nlines; i++) {
		const char *p = lines[i];

		while (*p) {
			if (in_comment) {
				const char *e = strstr(p, "*/");
				if (!e)
					break;
				in_comment = false;
				p = e + 2;
				continue;
			}
			if (p[0] == '/' && p[1] == '*') {
				in_comment = true;
				p += 2;
				continue;
			}
			if (p[0] == '/' && p[1] == '/')
				break;
			if (strncmp(p, "corio_", 6) == 0 && (p == lines[i] || !(isalnum((unsigned char)p[-1]) || p[-1] == '_'))) {
				const char *e = p;
				while (isalnum((unsigned char)*e) || *e == '_')
					e++;
				if (*e == '(') {
					size_t len = (size_t)(e - p);
					bool   found = false;
					for (int b = 0; b < nblocks && !found; b++)
						for (int n = 0; n < blocks[b].nnames && !found; n++)
							found = strlen(blocks[b].names[n]) == len &&
								strncmp(blocks[b].names[n], p, len) == 0;
					if (!found)
						fail(i + 1, "%.*s is declared but no doc block names it", (int)len, p);
				}
				p = e;
				continue;
			}
			p++;
		}
	}
}

static void parse(void)
{
	parse_top();
	for (int i = 0; i < nlines; i++) {
		if (strncmp(lines[i], "/*=", 3) == 0)
			parse_block(&i);
		else if (strncmp(lines[i], "/* ---", 6) == 0 && is_rule(lines[i]))
			parse_banner(&i);
	}
	check_declared();
}

/* ------------------------------------------------------------------------
 * Checks
 * ------------------------------------------------------------------------ */

/* Is the word an errno name of this system? */
static bool is_errno_name(const char *w, size_t len)
{
	for (int e = 1; e < 4096; e++) {
		const char *n = strerrorname_np(e);
		if (n && strlen(n) == len && strncmp(n, w, len) == 0)
			return true;
	}
	return false;
}

/* The errno name an ERRORS entry opens with, or 0 length. */
static size_t entry_name(const char *t)
{
	size_t n = 0;

	if (t[0] != 'E')
		return 0;
	while (isupper((unsigned char)t[n]) || isdigit((unsigned char)t[n]))
		n++;
	return t[n] == ' ' ? n : 0;
}

static bool has_entry(const struct block *b, const char *w, size_t len)
{
	for (int i = 0; i < b->nbody[S_ERR]; i++) {
		const char *t = b->body[S_ERR][i].text;
		if (entry_name(t) == len && strncmp(t, w, len) == 0)
			return true;
	}
	return false;
}

static bool page_exists(const char *name, size_t len)
{
	if (len == 5 && strncmp(name, "corio", 5) == 0)
		return true;
	for (int b = 0; b < nblocks; b++)
		for (int n = 0; n < blocks[b].nnames; n++)
			if (strlen(blocks[b].names[n]) == len && strncmp(blocks[b].names[n], name, len) == 0)
				return true;
	return false;
}

static bool declares(const struct block *b, const char *name)
{
	size_t len = strlen(name);

	for (int i = 0; i < b->nsyn; i++)
		for (const char *p = strstr(b->synopsis[i], name); p; p = strstr(p + 1, name)) {
			const char *e = p + len;
			bool        start = p == b->synopsis[i] || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
			while (*e == ' ')
				e++;
			if (start && *e == '(')
				return true;
		}
	return false;
}

static void check_block(const struct block *b)
{
	static const int required[] = { S_DESC, S_RET, S_ERR, S_SEE };

	for (size_t r = 0; r < sizeof(required) / sizeof(required[0]); r++)
		if (!b->has[required[r]])
			fail(b->lineno, "%s: no %s", b->names[0], sect_name[required[r]]);
	for (int n = 0; n < b->nnames; n++) {
		if (!declares(b, b->names[n]))
			fail(b->lineno, "%s is not declared right after its doc block", b->names[n]);
		for (int o = 0; o < nblocks; o++)
			for (int m = 0; m < blocks[o].nnames; m++)
				if (&blocks[o] != b && strcmp(blocks[o].names[m], b->names[n]) == 0 &&
				    blocks[o].lineno < b->lineno)
					fail(b->lineno, "%s is named by two doc blocks", b->names[n]);
	}
	if (b->nsyn == 0)
		fail(b->lineno, "%s: no declarations follow the doc block", b->names[0]);

	/* ERRORS: entries, each errno once, and "None" only alone. */
	bool any_entry = false, none = false;
	for (int i = 0; i < b->nbody[S_ERR]; i++) {
		const char *t = b->body[S_ERR][i].text;
		size_t      n = entry_name(t);

		if (blank(t) || t[0] == ' ')
			continue;
		if (n) {
			if (!is_errno_name(t, n))
				fail(b->body[S_ERR][i].lineno, "%.*s is not an errno name", (int)n, t);
			for (int j = 0; j < i; j++)
				if (entry_name(b->body[S_ERR][j].text) == n && strncmp(b->body[S_ERR][j].text, t, n) == 0)
					fail(b->body[S_ERR][i].lineno, "%.*s listed twice in ERRORS", (int)n, t);
			any_entry = true;
		} else if (strncmp(t, "None", 4) == 0) {
			none = true;
		} else {
			fail(b->body[S_ERR][i].lineno, "ERRORS line must open with an errno name (or \"None\")");
		}
	}
	if (b->has[S_ERR] && any_entry == none)
		fail(b->lineno, "%s: ERRORS must list errno entries, or say \"None: ...\"", b->names[0]);

	/* Every errno the prose names has its entry. */
	static const int prose[] = { S_DESC, S_RET, S_NOTES, S_ENV, S_BUGS };
	for (size_t s = 0; s < sizeof(prose) / sizeof(prose[0]); s++)
		for (int i = 0; i < b->nbody[prose[s]]; i++) {
			const struct line *l = &b->body[prose[s]][i];
			for (const char *p = l->text; *p; p++) {
				size_t len = 0;
				if (*p != 'E' || (p > l->text && (isalnum((unsigned char)p[-1]) || p[-1] == '_')))
					continue;
				while (isupper((unsigned char)p[len]) || isdigit((unsigned char)p[len]))
					len++;
				if (len > 2 && !(isalnum((unsigned char)p[len]) || p[len] == '_') &&
				    is_errno_name(p, len) && !has_entry(b, p, len))
					fail(l->lineno, "%.*s is mentioned but has no ERRORS entry", (int)len, p);
				p += len ? len - 1 : 0;
			}
		}

	/* SEE ALSO: name(section), corio pages must exist. */
	for (int i = 0; i < b->nbody[S_SEE]; i++) {
		const char *p = b->body[S_SEE][i].text;
		while (*p) {
			const char *s = p, *o;
			while (*p && *p != '(' && *p != ',')
				p++;
			if (*p != '(') {
				if (!blank(s))
					fail(b->body[S_SEE][i].lineno, "SEE ALSO wants name(section)");
				break;
			}
			while (*s == ' ')
				s++;
			o = p;
			if (strncmp(s, "corio", 5) == 0 && !page_exists(s, (size_t)(o - s)))
				fail(b->body[S_SEE][i].lineno, "SEE ALSO %.*s: no such page", (int)(o - s), s);
			while (*p && *p != ',')
				p++;
			if (*p == ',')
				p++;
		}
	}
}

/* ------------------------------------------------------------------------
 * Writing troff
 * ------------------------------------------------------------------------ */

/* Text for troff: backslashes and minus signs escaped, control characters
 * at the start of a line defused. */
static void put_text(FILE *f, const char *t)
{
	if (*t == '.' || *t == '\'')
		fputs("\\&", f);
	for (; *t; t++) {
		if (*t == '\\')
			fputs("\\e", f);
		else if (*t == '-')
			fputs("\\-", f);
		else
			fputc(*t, f);
	}
	fputc('\n', f);
}

static const char *strip(const char *t)
{
	while (*t == ' ')
		t++;
	return t;
}

static int indent(const char *t)
{
	return (int)(strip(t) - t);
}

/*
 * A section's text: paragraphs, "- " lists, 4-space preformatted blocks and,
 * in ERRORS, errno entries. Paragraph breaks are emitted lazily, so an
 * empty line never makes an empty paragraph.
 */
static void put_body(FILE *f, const struct line *l, int n, bool errors_sect)
{
	bool need_break = false, in_pre = false;

	for (int i = 0; i < n; i++) {
		const char *t = l[i].text;

		if (in_pre) {
			bool more = indent(t) >= 4;
			if (blank(t)) /* an empty line inside a block continues it */
				for (int j = i + 1; j < n; j++) {
					if (!blank(l[j].text)) {
						more = indent(l[j].text) >= 4;
						break;
					}
				}
			if (more) {
				if (blank(t))
					fputc('\n', f);
				else
					put_text(f, t + 4);
				continue;
			}
			fputs(".EE\n.in\n", f);
			in_pre = false;
			need_break = true;
		}
		if (blank(t)) {
			need_break = true;
			continue;
		}
		if (indent(t) >= 4 && !errors_sect) {
			fputs(".PP\n.in +4n\n.EX\n", f);
			put_text(f, t + 4);
			in_pre = true;
			need_break = false;
			continue;
		}
		size_t en = errors_sect ? entry_name(t) : 0;
		if (en) {
			fprintf(f, ".TP\n.B %.*s\n", (int)en, t);
			put_text(f, strip(t + en));
			need_break = false;
			continue;
		}
		if (strncmp(t, "- ", 2) == 0) {
			fputs(".IP \\(bu 2\n", f);
			put_text(f, strip(t + 2));
			need_break = false;
			continue;
		}
		if (need_break) {
			fputs(indent(t) ? ".IP\n" : ".PP\n", f);
			need_break = false;
		}
		put_text(f, strip(t));
	}
	if (in_pre)
		fputs(".EE\n.in\n", f);
}

static const char *version = "corio";
static const char *date = "";

static void put_header(FILE *f, const char *name, int section)
{
	char up[128];
	size_t i;

	for (i = 0; name[i] && i < sizeof(up) - 1; i++)
		up[i] = (char)toupper((unsigned char)name[i]);
	up[i] = 0;
	fprintf(f, ".\\\" Generated by tools/mkman.c from include/corio.h: edit the header.\n");
	fprintf(f, ".TH %s %d \"%s\" \"%s\" \"corio manual\"\n", up, section, date, version);
}

static void put_see_also(FILE *f, const struct line *l, int n)
{
	bool first = true;

	for (int i = 0; i < n; i++) {
		char *copy = xstrdup(l[i].text), *tok, *save;
		for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			char *s = (char *)strip(tok), *paren = strchr(s, '(');
			size_t e = strlen(s);
			while (e && s[e - 1] == ' ')
				s[--e] = 0;
			if (!paren || !*s)
				continue;
			*paren = 0;
			if (!first)
				fputs(",\n", f);
			fprintf(f, ".BR %s (%s", s, paren + 1);
			first = false;
		}
		free(copy);
	}
	if (!first)
		fputc('\n', f);
}

static FILE *open_out(const char *dir, const char *sub, const char *name, const char *ext)
{
	char  p[4096];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, sub);
	mkdir(dir, 0755);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/%s/%s.%s", dir, sub, name, ext);
	f = fopen(p, "w");
	if (!f) {
		fprintf(stderr, "mkman: %s: %s\n", p, strerror(errno));
		exit(2);
	}
	return f;
}

static void close_out(FILE *f)
{
	if (ferror(f) | fclose(f)) {
		perror("mkman: write");
		exit(2);
	}
}

static void write_page(const char *dir, const struct block *b)
{
	FILE *f = open_out(dir, "man3", b->names[0], "3");

	put_header(f, b->names[0], 3);
	fputs(".SH NAME\n", f);
	for (int n = 0; n < b->nnames; n++)
		fprintf(f, "%s%s", b->names[n], n + 1 < b->nnames ? ", " : "");
	fputs(" \\- ", f);
	put_text(f, b->summary);
	fputs(".SH SYNOPSIS\n.nf\n.B #include <corio.h>\n.PP\n", f);
	for (int i = 0; i < b->nsyn; i++) {
		const char *s = b->synopsis[i];
		char        buf[1024];
		size_t      o = 0;
		/* tabs to 8-column stops, so the page keeps the header's layout */
		for (; *s && o < sizeof(buf) - 9; s++)
			if (*s == '\t')
				do
					buf[o++] = ' ';
				while (o % 8);
			else
				buf[o++] = *s;
		buf[o] = 0;
		put_text(f, buf);
	}
	fputs(".fi\n", f);
	for (int s = 0; s < S_N; s++) {
		if (!b->has[s] && !(s == S_DESC && b->nbody[s]))
			continue;
		fprintf(f, ".SH %s\n", sect_name[s]);
		if (s == S_SEE)
			put_see_also(f, b->body[s], b->nbody[s]);
		else
			put_body(f, b->body[s], b->nbody[s], s == S_ERR);
	}
	close_out(f);
	for (int n = 1; n < b->nnames; n++) {
		f = open_out(dir, "man3", b->names[n], "3");
		fprintf(f, ".so man3/%s.3\n", b->names[0]);
		close_out(f);
	}
}

static void write_overview(const char *dir)
{
	FILE *f = open_out(dir, "man7", "corio", "7");

	put_header(f, "corio", 7);
	fputs(".SH NAME\ncorio \\- ", f);
	put_text(f, top_summary);
	fputs(".SH SYNOPSIS\n.nf\n.B #include <corio.h>\n.PP\n"
	      ".B cc prog.c $(pkg\\-config \\-\\-cflags \\-\\-libs corio)\n.fi\n", f);
	fputs(".SH DESCRIPTION\n", f);
	put_body(f, top, ntop, false);
	for (int bn = 0; bn < nbanners; bn++) {
		bool any = false;
		fputs(".SS ", f);
		put_text(f, banners[bn].title);
		put_body(f, banners[bn].text, banners[bn].ntext, false);
		for (int b = 0; b < nblocks; b++) {
			if (blocks[b].banner != bn)
				continue;
			for (int n = 0; n < blocks[b].nnames; n++) {
				if (!any)
					fputs(".PP\n", f);
				fprintf(f, "%s.BR %s (3)", any ? ",\n" : "", blocks[b].names[n]);
				any = true;
			}
		}
		if (any)
			fputc('\n', f);
	}
	fputs(".SH SEE ALSO\n.BR io_uring (7),\n.BR pkg\\-config (1)\n", f);
	close_out(f);
}

static void write_examples(const char *dir)
{
	for (int b = 0; b < nblocks; b++) {
		const struct block *bl = &blocks[b];
		bool                prog = false;
		FILE               *f;

		for (int i = 0; i < bl->nbody[S_EXAMPLE]; i++)
			prog |= strstr(bl->body[S_EXAMPLE][i].text, "int main(") != NULL;
		if (!prog)
			continue;
		mkdir(dir, 0755);
		f = open_out(dir, ".", bl->names[0], "c");
		for (int i = 0; i < bl->nbody[S_EXAMPLE]; i++) {
			const char *t = bl->body[S_EXAMPLE][i].text;
			if (!blank(t) && indent(t) < 4)
				continue; /* prose around the program */
			fprintf(f, "%s\n", blank(t) ? "" : t + 4);
		}
		close_out(f);
	}
}

int main(int argc, char **argv)
{
	const char *out = NULL, *ex = NULL;
	bool        check = false, list = false;
	int         i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--check") == 0)
			check = true;
		else if (strcmp(argv[i], "--list") == 0)
			list = true;
		else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
			out = argv[++i];
		else if (strcmp(argv[i], "--examples") == 0 && i + 1 < argc)
			ex = argv[++i];
		else if (strcmp(argv[i], "--version") == 0 && i + 1 < argc)
			version = argv[++i];
		else if (strcmp(argv[i], "--date") == 0 && i + 1 < argc)
			date = argv[++i];
		else {
			fprintf(stderr, "usage: mkman [--check] [--out DIR] [--examples DIR] [--list] "
					"[--version V] [--date D] corio.h\n");
			return 2;
		}
	}
	if (i + 1 != argc) {
		fprintf(stderr, "mkman: one header expected\n");
		return 2;
	}
	path = argv[i];
	read_file(path);
	parse();
	for (int b = 0; b < nblocks; b++)
		check_block(&blocks[b]);
	if (nblocks == 0)
		fail(1, "no doc blocks");
	if (errors) {
		fprintf(stderr, "mkman: %d problem%s in %s; no pages written\n", errors, errors == 1 ? "" : "s", path);
		return 1;
	}
	if (list)
		for (int b = 0; b < nblocks; b++)
			for (int n = 0; n < blocks[b].nnames; n++)
				printf("%s %s\n", blocks[b].names[0], blocks[b].names[n]);
	if (check)
		return 0;
	if (out) {
		for (int b = 0; b < nblocks; b++)
			write_page(out, &blocks[b]);
		write_overview(out);
	}
	if (ex)
		write_examples(ex);
	return 0;
}
