// Splits an ECS ExecuteCommand `command` the way the SSM agent does in container mode: with
// github.com/google/shlex, then exec'd directly with no shell (§6.2). That library is not POSIX
// sh: a backslash inside double quotes escapes any character, `#` starts a comment only at the
// start of a word, and only space, tab, CR and LF separate words. Mimicking it exactly means a
// command that works in the sandbox splits the same way on AWS.

export class ShlexError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ShlexError';
  }
}

const SPACE = new Set([' ', '\t', '\r', '\n']);

type State = 'start' | 'word' | 'escaping' | 'escapingQuoted' | 'doubleQuoted' | 'singleQuoted' | 'comment';

/** google/shlex Split: words in order, comments dropped; throws ShlexError like the Go errors. */
export function shlexSplit(input: string): string[] {
  const words: string[] = [];
  let state: State = 'start';
  let value = '';
  let isWord = false;
  const finish = () => {
    if (isWord) words.push(value);
    value = '';
    isWord = false;
    state = 'start';
  };

  for (const char of input) {
    switch (state) {
      case 'start':
        if (SPACE.has(char)) break;
        if (char === '#') {
          state = 'comment';
          break;
        }
        isWord = true;
        if (char === '"') state = 'doubleQuoted';
        else if (char === "'") state = 'singleQuoted';
        else if (char === '\\') state = 'escaping';
        else {
          value += char;
          state = 'word';
        }
        break;
      case 'word':
        if (SPACE.has(char)) finish();
        else if (char === '"') state = 'doubleQuoted';
        else if (char === "'") state = 'singleQuoted';
        else if (char === '\\') state = 'escaping';
        // `#` inside a word is an ordinary character.
        else value += char;
        break;
      case 'escaping':
        value += char;
        state = 'word';
        break;
      case 'escapingQuoted':
        value += char;
        state = 'doubleQuoted';
        break;
      case 'doubleQuoted':
        if (char === '"') state = 'word';
        else if (char === '\\') state = 'escapingQuoted';
        else value += char;
        break;
      case 'singleQuoted':
        if (char === "'") state = 'word';
        else value += char;
        break;
      case 'comment':
        if (char === '\n') {
          value = '';
          state = 'start';
        }
        break;
    }
  }

  switch (state) {
    case 'escaping':
    case 'escapingQuoted':
      throw new ShlexError('EOF found after escape character');
    case 'doubleQuoted':
    case 'singleQuoted':
      throw new ShlexError('EOF found when expecting closing quote');
    case 'comment':
      return words;
    default:
      finish();
      return words;
  }
}
