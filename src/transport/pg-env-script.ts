// A POSIX sh function, for scripts run in the Coder container, that turns a postgres:// URL into
// libpq's environment variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGSSLMODE …), so
// that psql, pg_dump and pg_restore are started with no URL and no password in their argv, where
// any process in the task could read it from /proc/PID/cmdline. libpq reads a URI only from its
// dbname argument, never from PGDATABASE or a service file, hence the parsing here.
// The script holds no single quote: it goes inside `sh -c '…'`.

// biome-ignore-all lint/suspicious/noTemplateCurlyInString: sh parameter expansions, not templates

/** Percent-decoding, one character at a time (printf turns %41 into A through an octal escape). */
const PERCENT_DECODE =
  '_cdb_pct() { _s=$1; _o=; while [ -n "$_s" ]; do case $_s in ' +
  '%[0-9A-Fa-f][0-9A-Fa-f]*) _h=${_s#%}; _h=${_h%"${_h#??}"}; _o=$_o$(printf "\\\\$(printf %o "0x$_h")"); _s=${_s#%??};; ' +
  '*) _c=${_s%"${_s#?}"}; _o=$_o$_c; _s=${_s#?};; esac; done; printf %s "$_o"; }';

/** Query parameters of a URL, and the variable libpq reads each from. */
const PARAMS: Record<string, string> = {
  sslmode: 'PGSSLMODE',
  sslrootcert: 'PGSSLROOTCERT',
  sslcert: 'PGSSLCERT',
  sslkey: 'PGSSLKEY',
  sslcrl: 'PGSSLCRL',
  connect_timeout: 'PGCONNECT_TIMEOUT',
  application_name: 'PGAPPNAME',
  options: 'PGOPTIONS',
  target_session_attrs: 'PGTARGETSESSIONATTRS',
  host: 'PGHOST',
  port: 'PGPORT',
  user: 'PGUSER',
  password: 'PGPASSWORD',
  dbname: 'PGDATABASE',
};

const PARAM_CASES = Object.entries(PARAMS)
  .map(([key, variable]) => `${key}) export ${variable}="$_v";;`)
  .join(' ');

/** `_cdb_pgenv URL`: exports the URL's parts as PG* variables for the commands that follow. */
const PGENV =
  '_cdb_pgenv() { _r=${1#*://}; _q=; ' +
  'case $_r in *\\?*) _q=${_r#*\\?}; _r=${_r%%\\?*};; esac; ' +
  'case $_r in */*) _d=${_r#*/}; _r=${_r%%/*}; [ -n "$_d" ] && export PGDATABASE="$(_cdb_pct "$_d")";; esac; ' +
  'case $_r in *@*) _a=${_r%@*}; _r=${_r##*@}; ' +
  'case $_a in *:*) export PGUSER="$(_cdb_pct "${_a%%:*}")" PGPASSWORD="$(_cdb_pct "${_a#*:}")";; ' +
  '*) [ -n "$_a" ] && export PGUSER="$(_cdb_pct "$_a")";; esac;; esac; ' +
  'case $_r in \\[*) _h=${_r%%]*}; _r=${_r#*]}; _r=${_r#:}; export PGHOST="${_h#\\[}"; [ -n "$_r" ] && export PGPORT="$_r";; ' +
  '*:*) export PGHOST="${_r%:*}" PGPORT="${_r##*:}";; ' +
  '*) [ -n "$_r" ] && export PGHOST="$_r";; esac; ' +
  'while [ -n "$_q" ]; do _p=${_q%%&*}; case $_q in *\\&*) _q=${_q#*&};; *) _q=;; esac; ' +
  `_k=\${_p%%=*}; _v=$(_cdb_pct "\${_p#*=}"); case $_k in ${PARAM_CASES} esac; done; }`;

/** The two function definitions, as one line of sh (`;`-separated, no single quotes). */
export const PG_ENV_FUNCTIONS = `${PERCENT_DECODE}; ${PGENV}`;

/** Sets the PG* variables from the URL in the shell variable or expression `urlExpression`. */
export function pgEnvFrom(urlExpression: string): string {
  return `_cdb_pgenv ${urlExpression}`;
}
