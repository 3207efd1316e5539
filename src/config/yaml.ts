import { parse } from 'yaml';

/**
 * The `yaml` package reads LOG_STREAM and LOG_TOKENS as its own debug switches and then prints
 * its parse tree to stdout. LOG_STREAM is also ours (the log shipping stream), and stdout must
 * hold JSON log lines only, so both are hidden from process.env while it parses. Parsing is
 * synchronous: nothing else runs while they are gone, and they are back before it returns.
 */
const YAML_DEBUG_SWITCHES = ['LOG_STREAM', 'LOG_TOKENS'] as const;

/** Every YAML parse in the gateway goes through here. */
export function parseYaml(text: string): unknown {
  const hidden = new Map<string, string>();
  for (const name of YAML_DEBUG_SWITCHES) {
    const value = process.env[name];
    if (value === undefined) continue;
    hidden.set(name, value);
    delete process.env[name];
  }
  try {
    return parse(text);
  } finally {
    for (const [name, value] of hidden) process.env[name] = value;
  }
}
