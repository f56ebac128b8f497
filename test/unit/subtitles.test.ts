import { describe, expect, test } from 'vitest';
import {
  cleanCueText,
  formatTimeRange,
  formatTimestamp,
  groupSegments,
  parseSubtitles,
  parseTimestamp,
  textBetween,
} from '../../src/ingest/subtitles.js';

const VTT = `\uFEFFWEBVTT - A talk about platypus
Kind: captions
Language: en

STYLE
::cue { color: yellow }

NOTE This note spans
two lines and must be skipped

REGION
id:fred width:40%

intro
00:00:01.500 --> 00:00:04.250 align:start position:10%
<v Roger Bingham>We are in New York City

2
00:04.250 --> 00:07.000
<b>Bold</b> and <i>italic</i> &amp; <c.yellow>coloured</c>
second line<00:00:06.000> karaoke

01:02:03.004 --> 01:02:05.9
An hour in
`;

const SRT = `1\r
00:00:00,000 --> 00:00:02,500\r
{\\an8}Hello <font color="#ff0000">world</font>\r
\r
2\r
00:00:02,500 --> 00:00:05,125\r
Second cue\r
with two lines\r
\r
3\r
00:01:10,010 --> 00:01:12,000\r
Third\r
`;

describe('parseTimestamp', () => {
  test.each([
    ['00:00:01.500', 1.5],
    ['01:02:03.004', 3723.004],
    ['00:04.250', 4.25],
    ['00:00:02,500', 2.5],
    ['1:02:05.9', 3725.9],
    ['12:34', 754],
    ['100:00:00.000', 360000],
  ])('%s is %d s', (text, seconds) => {
    expect(parseTimestamp(text)).toBeCloseTo(seconds, 6);
  });

  test.each(['', 'abc', '00:61:00.000', '00:00:75.000', '1.5', '00:00:01.5000'])(
    '%s is not a timestamp',
    (text) => {
      expect(parseTimestamp(text)).toBeUndefined();
    },
  );
});

describe('parseSubtitles', () => {
  test('WebVTT: header, STYLE, NOTE and REGION skipped; ids, settings and tags handled', () => {
    const cues = parseSubtitles(VTT);
    expect(cues).toEqual([
      { start: 1.5, end: 4.25, text: 'Roger Bingham: We are in New York City' },
      { start: 4.25, end: 7, text: 'Bold and italic & coloured second line karaoke' },
      { start: 3723.004, end: 3725.9, text: 'An hour in' },
    ]);
  });

  test('SRT: index lines, comma milliseconds, CRLF, ASS overrides and font tags', () => {
    expect(parseSubtitles(SRT)).toEqual([
      { start: 0, end: 2.5, text: 'Hello world' },
      { start: 2.5, end: 5.125, text: 'Second cue with two lines' },
      { start: 70.01, end: 72, text: 'Third' },
    ]);
  });

  test('cues out of order are sorted by start; empty cues and malformed timings dropped', () => {
    const text = [
      '00:00:10.000 --> 00:00:11.000\nlater',
      '00:00:02.000 --> 00:00:03.000\nearlier',
      '00:00:04.000 --> 00:00:05.000\n<b></b>',
      '00:00:xx.000 --> 00:00:05.000\nbroken',
      'stray text without timing',
    ].join('\n\n');
    expect(parseSubtitles(text).map((c) => c.text)).toEqual(['earlier', 'later']);
  });

  test('an end before the start is clamped to the start', () => {
    expect(parseSubtitles('00:00:05.000 --> 00:00:04.000\nx')).toEqual([{ start: 5, end: 5, text: 'x' }]);
  });

  test('no cues in text that is not subtitles', () => {
    expect(parseSubtitles('just some words\n\nand more')).toEqual([]);
    expect(parseSubtitles('')).toEqual([]);
  });
});

describe('cleanCueText', () => {
  test('entities decode, speaker classes keep the name', () => {
    expect(cleanCueText('<v.loud Esme>It&#39;s &lt;fine&gt;&nbsp;&#x41;')).toBe("Esme: It's <fine> A");
  });
});

describe('groupSegments', () => {
  const cues = [
    { start: 0, end: 2, text: 'aaaa' },
    { start: 2, end: 4, text: 'bbbb' },
    { start: 4.5, end: 6, text: 'cccc' },
    { start: 7, end: 9, text: 'dddd' },
  ];

  test('consecutive cues merge up to maxChars, spanning first start to last end', () => {
    expect(groupSegments(cues, 9)).toEqual([
      { start: 0, end: 4, text: 'aaaa bbbb' },
      { start: 4.5, end: 9, text: 'cccc dddd' },
    ]);
    expect(groupSegments(cues, 14)).toEqual([
      { start: 0, end: 6, text: 'aaaa bbbb cccc' },
      { start: 7, end: 9, text: 'dddd' },
    ]);
    expect(groupSegments(cues, 1000)).toEqual([{ start: 0, end: 9, text: 'aaaa bbbb cccc dddd' }]);
  });

  test('a cue longer than maxChars is split at spaces, each piece keeping its times', () => {
    const long = { start: 10, end: 20, text: 'one two three four five six' };
    const groups = groupSegments([cues[0]!, long, cues[1]!], 10);
    expect(groups.map((g) => g.text)).toEqual(['aaaa', 'one two', 'three four', 'five six', 'bbbb']);
    expect(groups.slice(1, 4).every((g) => g.start === 10 && g.end === 20)).toBe(true);
    expect(groups.every((g) => g.text.length <= 10)).toBe(true);
  });

  test('blank cues are skipped; no input gives no group', () => {
    expect(groupSegments([{ start: 0, end: 1, text: '  ' }], 10)).toEqual([]);
    expect(groupSegments([], 10)).toEqual([]);
  });
});

describe('time formatting', () => {
  test.each([
    [0, '0:00'],
    [42.9, '0:42'],
    [65, '1:05'],
    [3599, '59:59'],
    [3600, '1:00:00'],
    [3723.004, '1:02:03'],
  ])('%d s is %s', (seconds, text) => {
    expect(formatTimestamp(seconds)).toBe(text);
  });

  test('ranges', () => {
    expect(formatTimeRange(42, 65)).toBe('0:42-1:05');
  });
});

test('textBetween joins the cues overlapping a range', () => {
  const cues = [
    { start: 0, end: 2, text: 'a' },
    { start: 2, end: 4, text: 'b' },
    { start: 4, end: 6, text: 'c' },
  ];
  expect(textBetween(cues, 2, 4)).toBe('b');
  expect(textBetween(cues, 1, 4.5)).toBe('a b c');
  expect(textBetween(cues, 7, 8)).toBe('');
});
