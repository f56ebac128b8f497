/**
 * Files made to break a run (issue 18, findings 1-4), generated at test time and small on disk: each one is a few
 * KB to a few MB that expands, when parsed naively, to hundreds of MB of XML, millions of characters, gigabytes of
 * pixels, or a tree nested hundreds of thousands of levels deep.
 *
 * The big deflate streams are made without ever holding their inflated content: one chunk is compressed once
 * (ending byte-aligned, by a sync flush) and its compressed bytes repeated, since each copy was compressed on its
 * own and refers to nothing before it.
 */
import { constants, crc32, deflateRawSync } from 'node:zlib';
import JSZip from 'jszip';
import sharp from 'sharp';
import { buildZip, makeDocx, makePptx } from '../helpers/make-office.js';

/** A raw deflate stream of `prefix`, `body` x `times`, `suffix`, with the CRC-32 and size of what it inflates to. */
export function repeatedDeflate(
  prefix: string,
  body: string,
  times: number,
  suffix: string,
): { data: Uint8Array; crc: number; size: number } {
  const flushed = (text: string) =>
    deflateRawSync(Buffer.from(text, 'utf8'), { level: 9, finishFlush: constants.Z_SYNC_FLUSH });
  const head = Buffer.from(prefix, 'utf8');
  const middle = Buffer.from(body, 'utf8');
  const tail = Buffer.from(suffix, 'utf8');
  let crc = crc32(head);
  for (let i = 0; i < times; i++) crc = crc32(middle, crc);
  crc = crc32(tail, crc);
  const bodyBlock = flushed(body);
  const data = Buffer.concat([
    flushed(prefix),
    ...Array.from({ length: times }, () => bodyBlock),
    flushed(suffix),
    Buffer.from([0x03, 0x00]),
  ]);
  return {
    data: new Uint8Array(data),
    crc: crc >>> 0,
    size: head.length + middle.length * times + tail.length,
  };
}

/** Replace one part of an office file by a huge repeated-deflate part, with true sizes and CRC in its headers. */
async function withHugePart(
  valid: Uint8Array,
  part: string,
  prefix: string,
  body: string,
  times: number,
  suffix: string,
): Promise<Uint8Array> {
  const zip = await JSZip.loadAsync(valid);
  const entries = [];
  for (const [name, file] of Object.entries(zip.files)) {
    if (file.dir || name === part) continue;
    const raw = Buffer.from(await file.async('uint8array'));
    entries.push({
      name,
      data: new Uint8Array(deflateRawSync(raw)),
      method: 8 as const,
      crc: crc32(raw),
      declaredSize: raw.length,
    });
  }
  const huge = repeatedDeflate(prefix, body, times, suffix);
  entries.push({ name: part, data: huge.data, method: 8 as const, crc: huge.crc, declaredSize: huge.size });
  return buildZip(entries);
}

/** Static text between the varying numbers: sets how well the huge parts compress. */
const FILLER =
  'the harbour master paints every mooring post with one shape so that sailors can find their berth at night; '.repeat(
    4,
  );

/** About 1 MB of slide shapes, varied enough to compress ~100 times (under the archive ratio limit of 200). */
function slideShapes(): string {
  const shapes: string[] = [];
  let size = 0;
  for (let i = 0; size < 1024 * 1024; i++) {
    const shape = `<p:sp><p:nvSpPr><p:cNvPr id="${i + 10}" name="Box ${i}"/><p:cNvSpPr/><p:nvPr/></p:nvSpPr><p:spPr/><p:txBody><a:bodyPr/><a:p><a:r><a:t>Cell ${(i * 7919) % 10007}: ${FILLER}</a:t></a:r></a:p></p:txBody></p:sp>`;
    shapes.push(shape);
    size += shape.length;
  }
  return shapes.join('');
}

const P_NS =
  'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"';

/**
 * Finding 1: a .pptx of a few MB whose one slide is `mebibytes` MiB of XML (about 300 in the finding), at a
 * compression ratio under the archive limits.
 */
export async function makeHugeSlidePptx(mebibytes = 300): Promise<Uint8Array> {
  const valid = await makePptx([{ title: 'Huge', body: ['A slide that grows.'] }]);
  return withHugePart(
    valid,
    'ppt/slides/slide1.xml',
    `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><p:sld ${P_NS}><p:cSld><p:spTree><p:nvGrpSpPr><p:cNvPr id="1" name=""/><p:cNvGrpSpPr/><p:nvPr/></p:nvGrpSpPr><p:grpSpPr/>`,
    slideShapes(),
    mebibytes,
    '</p:spTree></p:cSld></p:sld>',
  );
}

/** Finding 1, Word: a .docx whose document.xml is `mebibytes` MiB of paragraphs. */
export async function makeHugeDocx(mebibytes = 300): Promise<Uint8Array> {
  const valid = await makeDocx([{ kind: 'paragraph', text: 'A document that grows.' }]);
  const paragraphs: string[] = [];
  let size = 0;
  for (let i = 0; size < 1024 * 1024; i++) {
    const p = `<w:p><w:r><w:t xml:space="preserve">Line ${(i * 7919) % 10007}: ${FILLER}</w:t></w:r></w:p>`;
    paragraphs.push(p);
    size += p.length;
  }
  return withHugePart(
    valid,
    'word/document.xml',
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>',
    paragraphs.join(''),
    mebibytes,
    '</w:body></w:document>',
  );
}

/** Finding 2: a small .pptx whose `references` slide ids all point at one slide of ~600 KB of text. */
export async function makeRepeatedSlidePptx(references = 200): Promise<Uint8Array> {
  const paragraphs = Array.from(
    { length: 6000 },
    (_, i) => `Paragraph ${i} says the same thing about the harbour again.`,
  );
  const zip = await JSZip.loadAsync(await makePptx([{ title: 'Again', body: paragraphs }]));
  const ids = Array.from({ length: references }, (_, i) => `<p:sldId id="${256 + i}" r:id="rIdS1"/>`);
  zip.file(
    'ppt/presentation.xml',
    `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><p:presentation ${P_NS}><p:sldIdLst>${ids.join('')}</p:sldIdLst><p:sldSz cx="9144000" cy="6858000"/></p:presentation>`,
  );
  return zip.generateAsync({ type: 'uint8array', compression: 'DEFLATE', compressionOptions: { level: 9 } });
}

/** Finding 2: an .xlsx whose `cells` cells all show one shared string of `stringBytes` characters. */
export async function makeSharedStringXlsx(cells = 2000, stringBytes = 100_000): Promise<Uint8Array> {
  const words = 'the harbour keeps its tide tables on the wall by the door '.repeat(
    Math.ceil(stringBytes / 58),
  );
  const shared = words.slice(0, stringBytes);
  const rows: string[] = [];
  for (let r = 0; r < cells / 4; r++) {
    const cols = ['A', 'B', 'C', 'D'].map((c) => `<c r="${c}${r + 1}" t="s"><v>0</v></c>`).join('');
    rows.push(`<row r="${r + 1}">${cols}</row>`);
  }
  const ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"';
  const rel = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships';
  const zip = new JSZip();
  zip.file(
    '[Content_Types].xml',
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
      '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>' +
      '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>' +
      '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>' +
      '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
  );
  zip.file(
    '_rels/.rels',
    `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="${rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>`,
  );
  zip.file(
    'xl/workbook.xml',
    `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook ${ns} xmlns:r="${rel}"><sheets><sheet name="Shared" sheetId="1" r:id="rId1"/></sheets></workbook>`,
  );
  zip.file(
    'xl/_rels/workbook.xml.rels',
    `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="${rel}/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="${rel}/sharedStrings" Target="sharedStrings.xml"/></Relationships>`,
  );
  zip.file(
    'xl/sharedStrings.xml',
    `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><sst ${ns} count="${cells}" uniqueCount="1"><si><t>${shared}</t></si></sst>`,
  );
  zip.file(
    'xl/worksheets/sheet1.xml',
    `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet ${ns}><sheetData>${rows.join('')}</sheetData></worksheet>`,
  );
  return zip.generateAsync({ type: 'uint8array', compression: 'DEFLATE', compressionOptions: { level: 9 } });
}

/** Finding 2: a 1024x1024 PNG of a few hundred bytes, and a page showing it `count` times. */
export async function makeManyPicturesPage(count = 1500): Promise<{ html: string; png: Uint8Array }> {
  const png = new Uint8Array(
    await sharp({ create: { width: 1024, height: 1024, channels: 3, background: '#3060c0' } })
      .png({ compressionLevel: 9 })
      .toBuffer(),
  );
  const imgs = Array.from({ length: count }, (_, i) => `<p><img src="pixel.png" alt="Tile ${i}"></p>`);
  const html = `<!doctype html><html><head><title>Tiles</title></head><body><h1>Tiles</h1>${imgs.join('\n')}</body></html>`;
  return { html, png };
}

/** Finding 4: a page nested `depth` levels deep (`<div>` inside `<div>`, with a list at the bottom). */
export function makeDeepHtml(depth: number, tag = 'div'): string {
  return `<!doctype html><html><head><title>Deep</title></head><body>${`<${tag}>`.repeat(depth)}<p>The text at the bottom of a very deep page.</p>${`</${tag}>`.repeat(depth)}</body></html>`;
}

// ---------------- PDF ----------------

/** A zlib stream (as PDF's FlateDecode wants) of `body` x `times`; its Adler-32 is left zero (pdf.js skips it). */
function zlibRepeated(body: Buffer, times: number): Buffer {
  const block = deflateRawSync(body, { level: 9, finishFlush: constants.Z_SYNC_FLUSH });
  return Buffer.concat([
    Buffer.from([0x78, 0xda]),
    ...Array.from({ length: times }, () => block),
    Buffer.from([0x03, 0x00]),
    Buffer.alloc(4),
  ]);
}

/** A PDF from object bodies (object n is `objects[n-1]`; object 1 the catalog), with a correct xref table. */
function pdfOf(objects: Buffer[]): Uint8Array {
  const chunks: Buffer[] = [Buffer.from('%PDF-1.5\n%\xe2\xe3\xcf\xd3\n', 'latin1')];
  let offset = chunks[0]!.length;
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    offsets.push(offset);
    const obj = Buffer.concat([
      Buffer.from(`${i + 1} 0 obj\n`, 'latin1'),
      body,
      Buffer.from('\nendobj\n', 'latin1'),
    ]);
    chunks.push(obj);
    offset += obj.length;
  });
  const xref = [`xref\n0 ${objects.length + 1}\n`, '0000000000 65535 f \n'];
  for (const o of offsets) xref.push(`${String(o).padStart(10, '0')} 00000 n \n`);
  chunks.push(
    Buffer.from(
      `${xref.join('')}trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${offset}\n%%EOF\n`,
      'latin1',
    ),
  );
  return new Uint8Array(Buffer.concat(chunks));
}

const streamObject = (dict: string, data: Buffer): Buffer =>
  Buffer.concat([
    Buffer.from(`<< ${dict} /Length ${data.length} >>\nstream\n`, 'latin1'),
    data,
    Buffer.from('\nendstream', 'latin1'),
  ]);

/** Finding 3: one page with some text and `count` gray images of `side` x `side` zeros (a few MB on disk). */
export function makePixelBombPdf(count = 4, side = 20_000): Uint8Array {
  const rowBytes = side;
  const mib = Math.ceil((rowBytes * side) / (1024 * 1024));
  const zeros = zlibRepeated(Buffer.alloc(1024 * 1024), mib);
  const images = Array.from({ length: count }, () =>
    streamObject(
      `/Type /XObject /Subtype /Image /Width ${side} /Height ${side} /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode`,
      zeros,
    ),
  );
  const firstImage = 5;
  const xobjects = images.map((_, i) => `/Im${i} ${firstImage + i} 0 R`).join(' ');
  const draw = images.map((_, i) => `q 100 0 0 100 ${72 + i * 110} 300 cm /Im${i} Do Q`).join('\n');
  const content = Buffer.from(
    `BT /F1 12 Tf 72 720 Td (A page of pictures that are far too large to decode.) Tj ET\n${draw}`,
    'latin1',
  );
  return pdfOf([
    Buffer.from('<< /Type /Catalog /Pages 2 0 R >>', 'latin1'),
    Buffer.from('<< /Type /Pages /Kids [3 0 R] /Count 1 >>', 'latin1'),
    Buffer.from(
      `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 ${firstImage + count} 0 R >> /XObject << ${xobjects} >> >> /Contents 4 0 R >>`,
      'latin1',
    ),
    streamObject('', content),
    ...images,
    Buffer.from('<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>', 'latin1'),
  ]);
}

/** Finding 3: one page whose content stream inflates to `mebibytes` MiB of drawing operators. */
export function makeContentBombPdf(mebibytes = 600): Uint8Array {
  const ops = '0 0 m 10 10 l S\n'.repeat(Math.ceil((1024 * 1024) / 16)).slice(0, 1024 * 1024);
  const content = zlibRepeated(Buffer.from(ops, 'latin1'), mebibytes);
  return pdfOf([
    Buffer.from('<< /Type /Catalog /Pages 2 0 R >>', 'latin1'),
    Buffer.from('<< /Type /Pages /Kids [3 0 R] /Count 1 >>', 'latin1'),
    Buffer.from('<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>', 'latin1'),
    streamObject('/Filter /FlateDecode', content),
  ]);
}
