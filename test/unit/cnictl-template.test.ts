/** cnictl's Go-template engine and Docker's --format handling (expected outputs are what Go's text/template prints). */
import { describe, expect, it } from 'vitest';
import { asMap, formatValue, parseTemplate, sprintf, TemplateError, toJson } from '../../cli/util/template.js';
import { formatEach, formatList, tabwrite } from '../../cli/util/format.js';

const x = (src: string, data: unknown) => parseTemplate(src).execute(data);

const sandbox = {
  Id: 'f00dfeed',
  Name: '/web',
  State: { Running: true, Pid: 42, ExitCode: 0 },
  Config: { Hostname: 'web-host', Cmd: ['sleep', '1000'] },
  NetworkSettings: {
    Ports: asMap({ '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }], '53/udp': null }),
    Networks: asMap({
      app: { IPAddress: '10.80.0.2', IPPrefixLen: 24, Aliases: ['web', 'www'] },
      back: { IPAddress: '10.81.0.7', IPPrefixLen: 24, Aliases: null },
    }),
  },
};

describe('Go templates: fields, variables, control', () => {
  it('field paths, the dot, root $ and nested maps', () => {
    expect(x('{{.Name}} {{.State.Pid}} {{.State.Running}}', sandbox)).toBe('/web 42 true');
    expect(x('{{.Config.Cmd}}', sandbox)).toBe('[sleep 1000]');
    expect(x('{{.NetworkSettings.Networks.app.IPAddress}}', sandbox)).toBe('10.80.0.2');
    expect(x('{{.NetworkSettings.Networks.nosuch}}', sandbox)).toBe('<no value>');
    expect(x('{{.NetworkSettings.Networks.nosuch.IPAddress}}', sandbox)).toBe('<no value>');
    expect(x('{{with .State}}{{.Pid}} {{$.Name}}{{end}}', sandbox)).toBe('42 /web');
    expect(x('{{.}}', 'plain')).toBe('plain');
    expect(x('{{.NetworkSettings.Ports}}', sandbox)).toBe('map[53/udp:<nil> 80/tcp:[{0.0.0.0 8080}]]');
  });

  it('range over lists and maps (keys in order), with variables, else, break and continue', () => {
    expect(x('{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', sandbox)).toBe('10.80.0.2 10.81.0.7 ');
    expect(x('{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}}/{{$v.IPPrefixLen}};{{end}}', sandbox)).toBe('app=10.80.0.2/24;back=10.81.0.7/24;');
    expect(x('{{range $i, $c := .Config.Cmd}}{{$i}}:{{$c}} {{end}}', sandbox)).toBe('0:sleep 1:1000 ');
    expect(x('{{range $c := .Config.Cmd}}<{{$c}}>{{end}}', sandbox)).toBe('<sleep><1000>');
    expect(x('{{range .Empty}}x{{else}}none{{end}}', { Empty: [] })).toBe('none');
    expect(x('{{range .}}{{if eq . 3}}{{break}}{{end}}{{if eq . 1}}{{continue}}{{end}}{{.}}{{end}}', [0, 1, 2, 3, 4])).toBe('02');
    expect(x('{{range 3}}{{.}}{{end}}', null)).toBe('012');
    expect(x('{{$n := 0}}{{range .}}{{$n = .}}{{end}}{{$n}}', [1, 2, 5])).toBe('5');
  });

  it('if / else if / else, with / else, and truth as Go has it', () => {
    const t = '{{if .A}}a{{else if .B}}b{{else}}c{{end}}';
    expect(x(t, { A: 1, B: 1 })).toBe('a');
    expect(x(t, { A: 0, B: 'x' })).toBe('b');
    expect(x(t, { A: '', B: [] })).toBe('c');
    expect(x('{{with .M}}has{{else}}empty{{end}}', { M: asMap({}) })).toBe('empty');
    expect(x('{{if .S}}struct is true{{end}}', { S: {} })).toBe('struct is true');
    expect(x('{{with $x := .A}}{{$x}}{{end}}', { A: 'v' })).toBe('v');
  });

  it('functions: index, len, slice, comparisons, and/or/not, print*, pipelines and parentheses', () => {
    expect(x('{{index .NetworkSettings.Networks "app"}}', sandbox)).toBe('{10.80.0.2 24 [web www]}');
    expect(x('{{(index .NetworkSettings.Networks "app").IPAddress}}', sandbox)).toBe('10.80.0.2');
    expect(x('{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}}', sandbox)).toBe('8080');
    expect(x('{{range $p, $b := .NetworkSettings.Ports}}{{$p}}->{{if $b}}{{(index $b 0).HostPort}}{{else}}-{{end}} {{end}}', sandbox)).toBe('53/udp->- 80/tcp->8080 ');
    expect(x('{{index .Config.Cmd 1}} {{len .Config.Cmd}} {{len .Name}} {{len .NetworkSettings.Networks}}', sandbox)).toBe('1000 2 4 2');
    expect(x('{{slice .Name 1}} {{slice .Config.Cmd 0 1}}', sandbox)).toBe('web [sleep]');
    expect(x('{{if and .State.Running (gt .State.Pid 1)}}up{{end}} {{or "" "dflt"}} {{not true}} {{eq .Name "/x" "/web"}} {{ne 1 2}} {{le 2 2}} {{lt "a" "b"}}', sandbox)).toBe('up dflt false true true true true');
    expect(x('{{.Name | printf "%s!"}} {{printf "%-6s|%3d|%q|%v|%t|%x|%.2f" "ab" 7 "q" .Config.Cmd true 255 1.5}}', sandbox)).toBe('/web! ab    |  7|"q"|[sleep 1000]|true|ff|1.50');
    expect(x('{{print "a" 1 2 "b"}}|{{println "a" 1}}', null)).toBe('a1 2b|a 1\n');
    expect(x('{{and 1 0 (index .X 5)}}', { X: [] })).toBe('0'); // short-circuit: index is never called
  });

  it("Docker's functions: json, join, split, lower, upper, title, pad, truncate", () => {
    expect(x('{{json .Config}}', sandbox)).toBe('{"Hostname":"web-host","Cmd":["sleep","1000"]}');
    expect(x('{{json .NetworkSettings.Ports}}', sandbox)).toBe('{"53/udp":null,"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}]}');
    expect(x('{{json .Missing}}', asMap({}))).toBe('null');
    expect(x('{{join .Config.Cmd " "}}|{{split "a,b" ","}}|{{upper "ab"}}|{{lower "AB"}}|{{title "hello world"}}|{{pad "x" 1 2}}|{{truncate "abcdef" 3}}', sandbox)).toBe('sleep 1000|[a b]|AB|ab|Hello World|' + ' x  ' + '|abc');
    expect(x('{{json "<&>"}}', null)).toBe('"<&>"');
  });

  it('trim markers, comments, raw strings and escapes', () => {
    expect(x('a  {{- .A -}}  b', { A: 1 })).toBe('a1b');
    expect(x('a{{/* a comment */}}b', {})).toBe('ab');
    expect(x('{{`raw\\t`}}|{{"tab\\tq\\"x"}}', {})).toBe('raw\\t|tab\tq"x');
    expect(x('{{"}}"}}', {})).toBe('}}');
  });

  it('errors name the place and the problem, as Go does', () => {
    const err = (src: string, data: unknown = sandbox) => {
      try {
        parseTemplate(src).execute(data);
      } catch (e) {
        expect(e).toBeInstanceOf(TemplateError);
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(err('{{.Nope}}')).toBe('template: :1:0: executing "" at <.Nope>: can\'t evaluate field Nope in type struct');
    expect(err('{{.State.Pid.X}}')).toMatch(/can't evaluate field X in type int/);
    expect(err('{{if .A}}')).toMatch(/unexpected EOF/);
    expect(err('{{end}}')).toMatch(/unexpected \{\{end\}\}/);
    expect(err('{{nosuch .A}}')).toMatch(/function "nosuch" not defined/);
    expect(err('{{.Name')).toMatch(/unclosed action/);
    expect(err('{{index .Config.Cmd 5}}')).toMatch(/error calling index: index out of range: 5/);
    expect(err('{{$x}}')).toMatch(/undefined variable: \$x/);
    expect(err('{{eq .Name 1}}')).toMatch(/incompatible types for comparison/);
    expect(err('{{template "x"}}')).toMatch(/not supported/);
    expect(err('{{break}}')).toMatch(/outside \{\{range\}\}/);
    expect(err('{{.Name 1}}')).toMatch(/\.Name is not a method but has arguments/);
  });

  it('formats values as fmt %v and printf as fmt.Sprintf', () => {
    expect(formatValue(asMap({ b: 1, a: [true, null] }))).toBe('map[a:[true <nil>] b:1]');
    expect(formatValue(undefined)).toBe('<no value>');
    expect(sprintf('%d%%', [5])).toBe('5%');
    expect(sprintf('%s', [])).toBe('%!s(MISSING)');
    expect(sprintf('%05d', [42])).toBe('00042');
    expect(toJson(asMap({ z: 1, a: { y: 2, b: 3 } }))).toBe('{"a":{"y":2,"b":3},"z":1}');
  });
});

describe("Docker's --format: table, json, templates", () => {
  const rows = [
    { ID: 'abc', Names: 'web', Status: 'Up 5 seconds', Ports: '0.0.0.0:8080->80/tcp' },
    { ID: 'def', Names: 'a-much-longer-name', Status: 'Exited (0) 1 second ago', Ports: '' },
  ];
  const spec = { table: 'table {{.ID}}\t{{.Names}}\t{{.Status}}\t{{.Ports}}', headers: { ID: 'SANDBOX ID', Names: 'NAMES', Status: 'STATUS', Ports: 'PORTS' } };

  it('tabwriter: minwidth 10, padding 3, the last cell not padded (an empty last column leaves the padding, as Go)', () => {
    expect(tabwrite('a\tbb\tc\nlonger-cell-x\td\te\n')).toBe('a               bb        c\nlonger-cell-x   d         e\n');
  });

  it('the default table, "table TEMPLATE" with headers from field names, and plain templates without a header', () => {
    expect(formatList(undefined, rows, spec)).toBe(
      ['SANDBOX ID   NAMES                STATUS                    PORTS', 'abc          web                  Up 5 seconds              0.0.0.0:8080->80/tcp', 'def          a-much-longer-name   Exited (0) 1 second ago   ', ''].join('\n'),
    );
    expect(formatList('table {{.Names}}\\t{{.Status}}', rows, spec)).toBe('NAMES                STATUS\nweb                  Up 5 seconds\na-much-longer-name   Exited (0) 1 second ago\n');
    expect(formatList('{{.Names}}: {{.Status}}', rows, spec)).toBe('web: Up 5 seconds\na-much-longer-name: Exited (0) 1 second ago\n');
    expect(formatList('table {{.Names | upper}}', rows.slice(0, 1), spec)).toBe('NAMES\nWEB\n');
  });

  it('"json" is one object per line; inspect formats each object or prints the array', () => {
    expect(formatList('json', rows.slice(0, 1), spec)).toBe('{"ID":"abc","Names":"web","Status":"Up 5 seconds","Ports":"0.0.0.0:8080->80/tcp"}\n');
    expect(formatEach(undefined, [1, 2], (v) => JSON.stringify(v))).toBe('[1,2]');
    expect(formatEach('{{.Name}}', [{ Name: 'a' }, { Name: 'b' }], String)).toBe('a\nb\n');
    expect(() => formatList('{{.Nope}}', rows, spec)).toThrow(/can't evaluate field Nope/);
    expect(() => formatList('{{if}}', rows, spec)).toThrow(/template parsing error: template: :1:0: missing value for if/);
  });
});
