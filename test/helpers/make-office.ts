/**
 * Real office files generated in tests: OOXML written by hand with jszip, .xlsx through exceljs's writer,
 * minimal ODF packages, and zip bombs written byte by byte.
 */
import { constants, crc32, deflateRawSync } from 'node:zlib';
import ExcelJS from 'exceljs';
import JSZip from 'jszip';
import sharp from 'sharp';

/** A PNG of a coloured shape, drawn from SVG. */
export async function shapePng(shape: 'circle' | 'square', colour: string, size = 96): Promise<Uint8Array> {
  const body =
    shape === 'circle'
      ? `<circle cx="${size / 2}" cy="${size / 2}" r="${size * 0.35}" fill="${colour}"/>`
      : `<rect x="${size * 0.2}" y="${size * 0.2}" width="${size * 0.6}" height="${size * 0.6}" fill="${colour}"/>`;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}"><rect width="100%" height="100%" fill="white"/>${body}</svg>`;
  return new Uint8Array(await sharp(Buffer.from(svg)).png().toBuffer());
}

async function zipToBytes(zip: JSZip): Promise<Uint8Array> {
  return zip.generateAsync({ type: 'uint8array', compression: 'DEFLATE' });
}

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

// ---------------- .docx ----------------

const W_NS =
  'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" ' +
  'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" ' +
  'xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" ' +
  'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" ' +
  'xmlns:pic="http://schemas.openxmlformats.org/drawingml/2006/picture"';

export type DocxPart =
  | { kind: 'heading'; text: string }
  | { kind: 'paragraph'; text: string; style?: 'Caption' }
  | { kind: 'table'; rows: string[][] }
  | { kind: 'picture'; png: Uint8Array; alt?: string };

function wParagraph(text: string, style?: string): string {
  const props = style ? `<w:pPr><w:pStyle w:val="${style}"/></w:pPr>` : '';
  return `<w:p>${props}<w:r><w:t xml:space="preserve">${esc(text)}</w:t></w:r></w:p>`;
}

function wPicture(relId: string, id: number, alt: string | undefined): string {
  const descr = alt === undefined ? '' : ` descr="${esc(alt)}"`;
  const emu = 952500;
  return (
    `<w:p><w:r><w:drawing><wp:inline distT="0" distB="0" distL="0" distR="0"><wp:extent cx="${emu}" cy="${emu}"/>` +
    `<wp:docPr id="${id}" name="Picture ${id}"${descr}/>` +
    '<a:graphic><a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/picture"><pic:pic>' +
    `<pic:nvPicPr><pic:cNvPr id="0" name="image${id}.png"/><pic:cNvPicPr/></pic:nvPicPr>` +
    `<pic:blipFill><a:blip r:embed="${relId}"/><a:stretch><a:fillRect/></a:stretch></pic:blipFill>` +
    `<pic:spPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="${emu}" cy="${emu}"/></a:xfrm><a:prstGeom prst="rect"><a:avLst/></a:prstGeom></pic:spPr>` +
    '</pic:pic></a:graphicData></a:graphic></wp:inline></w:drawing></w:r></w:p>'
  );
}

/** The parts of a .docx, as name -> content, so tests can also tamper with them. */
export async function docxParts(
  parts: DocxPart[],
  title?: string,
): Promise<Map<string, string | Uint8Array>> {
  const files = new Map<string, string | Uint8Array>();
  const rels: string[] = [
    '<Relationship Id="rIdStyles" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>',
  ];
  const body: string[] = [];
  let pictures = 0;
  for (const part of parts) {
    if (part.kind === 'heading') body.push(wParagraph(part.text, 'Heading1'));
    else if (part.kind === 'paragraph') body.push(wParagraph(part.text, part.style));
    else if (part.kind === 'table') {
      const rows = part.rows
        .map(
          (row) =>
            `<w:tr>${row.map((cell) => `<w:tc><w:tcPr><w:tcW w:w="2000" w:type="dxa"/></w:tcPr>${wParagraph(cell)}</w:tc>`).join('')}</w:tr>`,
        )
        .join('');
      body.push(`<w:tbl><w:tblPr><w:tblW w:w="0" w:type="auto"/></w:tblPr>${rows}</w:tbl>`);
    } else {
      pictures++;
      files.set(`word/media/image${pictures}.png`, part.png);
      rels.push(
        `<Relationship Id="rIdImg${pictures}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/image" Target="media/image${pictures}.png"/>`,
      );
      body.push(wPicture(`rIdImg${pictures}`, pictures, part.alt));
    }
  }
  files.set(
    '[Content_Types].xml',
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
      '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>' +
      '<Default Extension="xml" ContentType="application/xml"/><Default Extension="png" ContentType="image/png"/>' +
      '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>' +
      '<Override PartName="/word/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/>' +
      '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/></Types>',
  );
  files.set(
    '_rels/.rels',
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">' +
      '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>' +
      '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/></Relationships>',
  );
  files.set(
    'docProps/core.xml',
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/">' +
      `${title ? `<dc:title>${esc(title)}</dc:title>` : ''}</cp:coreProperties>`,
  );
  files.set(
    'word/styles.xml',
    `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:styles ${W_NS}>` +
      '<w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:name w:val="Normal"/></w:style>' +
      '<w:style w:type="paragraph" w:styleId="Heading1"><w:name w:val="heading 1"/><w:basedOn w:val="Normal"/></w:style>' +
      '<w:style w:type="paragraph" w:styleId="Caption"><w:name w:val="caption"/><w:basedOn w:val="Normal"/></w:style></w:styles>',
  );
  files.set(
    'word/_rels/document.xml.rels',
    `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">${rels.join('')}</Relationships>`,
  );
  files.set(
    'word/document.xml',
    `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document ${W_NS}><w:body>${body.join('')}<w:sectPr/></w:body></w:document>`,
  );
  return files;
}

export async function makeDocx(parts: DocxPart[], title?: string): Promise<Uint8Array> {
  const zip = new JSZip();
  for (const [name, content] of await docxParts(parts, title)) zip.file(name, content);
  return zipToBytes(zip);
}

// ---------------- .pptx ----------------

const P_NS =
  'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" ' +
  'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" ' +
  'xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"';
const REL_NS = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships';

export interface SlideSpec {
  title: string;
  /** Body paragraphs. */
  body: string[];
  notes?: string;
  /**
   * Where the notes are written: PowerPoint's body placeholder (default), or a plain text box with no placeholder,
   * as LibreOffice Impress exports them (with a date placeholder beside it).
   */
  notesIn?: 'body' | 'textbox';
  picture?: { png: Uint8Array; alt?: string };
}

function pShape(id: number, placeholder: string | undefined, paragraphs: string[]): string {
  const ph = placeholder ? `<p:nvPr><p:ph type="${placeholder}"/></p:nvPr>` : '<p:nvPr/>';
  const paras = paragraphs
    .map((text) => {
      // Two runs per paragraph, to check that runs join into one paragraph.
      const cut = Math.floor(text.length / 2);
      return `<a:p><a:r><a:t>${esc(text.slice(0, cut))}</a:t></a:r><a:r><a:t>${esc(text.slice(cut))}</a:t></a:r></a:p>`;
    })
    .join('');
  return `<p:sp><p:nvSpPr><p:cNvPr id="${id}" name="Shape ${id}"/><p:cNvSpPr/>${ph}</p:nvSpPr><p:spPr/><p:txBody><a:bodyPr/><a:lstStyle/>${paras}</p:txBody></p:sp>`;
}

/**
 * A .pptx whose slide files are numbered in reverse of the presentation order (slideN.xml for the
 * first slide of N), so that a reader must follow presentation.xml to get the order right.
 */
export async function makePptx(slides: SlideSpec[]): Promise<Uint8Array> {
  const zip = new JSZip();
  const n = slides.length;
  const sldIds: string[] = [];
  const presRels: string[] = [];
  const overrides: string[] = [];
  slides.forEach((slide, index) => {
    const fileNo = n - index;
    sldIds.push(`<p:sldId id="${256 + index}" r:id="rIdS${index + 1}"/>`);
    presRels.push(
      `<Relationship Id="rIdS${index + 1}" Type="${REL_NS}/slide" Target="slides/slide${fileNo}.xml"/>`,
    );
    overrides.push(
      `<Override PartName="/ppt/slides/slide${fileNo}.xml" ContentType="application/vnd.openxmlformats-officedocument.presentationml.slide+xml"/>`,
    );
    const shapes = [pShape(2, 'title', [slide.title]), pShape(3, 'body', slide.body)];
    const rels: string[] = [];
    if (slide.picture) {
      zip.file(`ppt/media/image${fileNo}.png`, slide.picture.png);
      rels.push(`<Relationship Id="rIdPic" Type="${REL_NS}/image" Target="../media/image${fileNo}.png"/>`);
      const descr = slide.picture.alt === undefined ? '' : ` descr="${esc(slide.picture.alt)}"`;
      shapes.push(
        `<p:pic><p:nvPicPr><p:cNvPr id="4" name="Picture 4"${descr}/><p:cNvPicPr/><p:nvPr/></p:nvPicPr>` +
          '<p:blipFill><a:blip r:embed="rIdPic"/><a:stretch><a:fillRect/></a:stretch></p:blipFill><p:spPr/></p:pic>',
      );
    }
    if (slide.notes !== undefined) {
      rels.push(
        `<Relationship Id="rIdNotes" Type="${REL_NS}/notesSlide" Target="../notesSlides/notesSlide${fileNo}.xml"/>`,
      );
      zip.file(
        `ppt/notesSlides/notesSlide${fileNo}.xml`,
        `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><p:notes ${P_NS}><p:cSld><p:spTree>` +
          '<p:nvGrpSpPr><p:cNvPr id="1" name=""/><p:cNvGrpSpPr/><p:nvPr/></p:nvGrpSpPr><p:grpSpPr/>' +
          pShape(2, 'sldImg', []) +
          (slide.notesIn === 'textbox'
            ? pShape(3, undefined, [slide.notes]) + pShape(5, 'dt', ['2026-12-02'])
            : pShape(3, 'body', [slide.notes])) +
          pShape(4, 'sldNum', [String(index + 1)]) +
          '</p:spTree></p:cSld></p:notes>',
      );
    }
    zip.file(
      `ppt/slides/_rels/slide${fileNo}.xml.rels`,
      `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">${rels.join('')}</Relationships>`,
    );
    zip.file(
      `ppt/slides/slide${fileNo}.xml`,
      `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><p:sld ${P_NS}><p:cSld><p:spTree>` +
        '<p:nvGrpSpPr><p:cNvPr id="1" name=""/><p:cNvGrpSpPr/><p:nvPr/></p:nvGrpSpPr><p:grpSpPr/>' +
        `${shapes.join('')}</p:spTree></p:cSld></p:sld>`,
    );
  });
  zip.file(
    '[Content_Types].xml',
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
      '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>' +
      '<Default Extension="xml" ContentType="application/xml"/><Default Extension="png" ContentType="image/png"/>' +
      '<Override PartName="/ppt/presentation.xml" ContentType="application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"/>' +
      `${overrides.join('')}</Types>`,
  );
  zip.file(
    '_rels/.rels',
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">' +
      `<Relationship Id="rId1" Type="${REL_NS}/officeDocument" Target="ppt/presentation.xml"/></Relationships>`,
  );
  zip.file(
    'ppt/presentation.xml',
    `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><p:presentation ${P_NS}><p:sldIdLst>${sldIds.join('')}</p:sldIdLst><p:sldSz cx="9144000" cy="6858000"/></p:presentation>`,
  );
  zip.file(
    'ppt/_rels/presentation.xml.rels',
    `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">${presRels.join('')}</Relationships>`,
  );
  return zipToBytes(zip);
}

// ---------------- .xlsx (exceljs writer) ----------------

export type CellValue =
  | string
  | number
  | boolean
  | Date
  | null
  | { formula: string; result: number }
  | { richText: Array<{ text: string }> };

export async function makeXlsx(sheets: Array<{ name: string; rows: CellValue[][] }>): Promise<Uint8Array> {
  const workbook = new ExcelJS.Workbook();
  for (const sheet of sheets) {
    const ws = workbook.addWorksheet(sheet.name);
    sheet.rows.forEach((row, r) => {
      row.forEach((value, c) => {
        if (value !== null) ws.getCell(r + 1, c + 1).value = value;
      });
    });
  }
  return new Uint8Array(await workbook.xlsx.writeBuffer());
}

// ---------------- OpenDocument (.odt / .odp / .ods) ----------------

const ODF_NS =
  'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" ' +
  'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" ' +
  'xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" ' +
  'xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0" xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" ' +
  'xmlns:office:version="1.3"';

async function makeOdf(
  mimetype: string,
  body: string,
  pictures: Record<string, Uint8Array>,
  title?: string,
  automaticStyles = '',
): Promise<Uint8Array> {
  const zip = new JSZip();
  zip.file('mimetype', mimetype, { compression: 'STORE' });
  zip.file(
    'META-INF/manifest.xml',
    '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.3">' +
      `<manifest:file-entry manifest:full-path="/" manifest:media-type="${mimetype}"/>` +
      '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>',
  );
  zip.file(
    'meta.xml',
    `<?xml version="1.0" encoding="UTF-8"?><office:document-meta ${ODF_NS.replace(' xmlns:office:version="1.3"', '')} xmlns:dc="http://purl.org/dc/elements/1.1/"><office:meta>${title ? `<dc:title>${esc(title)}</dc:title>` : ''}</office:meta></office:document-meta>`,
  );
  zip.file(
    'content.xml',
    `<?xml version="1.0" encoding="UTF-8"?><office:document-content ${ODF_NS.replace(' xmlns:office:version="1.3"', '')} office:version="1.3"><office:automatic-styles>${automaticStyles}</office:automatic-styles><office:body>${body}</office:body></office:document-content>`,
  );
  for (const [name, bytes] of Object.entries(pictures)) zip.file(name, bytes);
  return zipToBytes(zip);
}

function odfFrame(href: string, alt?: string): string {
  const title = alt === undefined ? '' : `<svg:title>${esc(alt)}</svg:title>`;
  return `<draw:frame draw:name="pic" svg:width="2cm" svg:height="2cm"><draw:image xlink:href="${href}" xlink:type="simple"/>${title}</draw:frame>`;
}

/** An .odt with the same kinds of parts as `makeDocx` (headings, paragraphs, a table, pictures). */
export async function makeOdt(parts: DocxPart[], title?: string): Promise<Uint8Array> {
  const pictures: Record<string, Uint8Array> = {};
  const body = parts
    .map((part) => {
      if (part.kind === 'heading') return `<text:h text:outline-level="1">${esc(part.text)}</text:h>`;
      if (part.kind === 'paragraph') {
        const style = part.style ? 'P1' : 'Standard';
        // Words separated by text:s to check spacing elements are read.
        return `<text:p text:style-name="${style}">${esc(part.text).split(' ').join('<text:s/>')}</text:p>`;
      }
      if (part.kind === 'table') {
        const rows = part.rows
          .map(
            (row) =>
              `<table:table-row>${row.map((c) => `<table:table-cell office:value-type="string"><text:p>${esc(c)}</text:p></table:table-cell>`).join('')}</table:table-row>`,
          )
          .join('');
        return `<table:table table:name="Table1"><table:table-column table:number-columns-repeated="${part.rows[0]?.length ?? 1}"/>${rows}</table:table>`;
      }
      const name = `Pictures/image${Object.keys(pictures).length + 1}.png`;
      pictures[name] = part.png;
      return `<text:p text:style-name="Standard">${odfFrame(name, part.alt)}</text:p>`;
    })
    .join('');
  return makeOdf(
    'application/vnd.oasis.opendocument.text',
    `<office:text>${body}</office:text>`,
    pictures,
    title,
    '<style:style style:name="P1" style:family="paragraph" style:parent-style-name="Caption"/>',
  );
}

export async function makeOdp(slides: SlideSpec[]): Promise<Uint8Array> {
  const pictures: Record<string, Uint8Array> = {};
  const pages = slides
    .map((slide, i) => {
      const title = `<draw:frame presentation:class="title"><draw:text-box><text:p>${esc(slide.title)}</text:p></draw:text-box></draw:frame>`;
      const body = `<draw:frame presentation:class="outline"><draw:text-box>${slide.body.map((b) => `<text:p>${esc(b)}</text:p>`).join('')}</draw:text-box></draw:frame>`;
      let picture = '';
      if (slide.picture) {
        const name = `Pictures/slide${i + 1}.png`;
        pictures[name] = slide.picture.png;
        picture = odfFrame(name, slide.picture.alt);
      }
      const notes =
        slide.notes === undefined
          ? ''
          : `<presentation:notes><draw:page-thumbnail/><draw:frame presentation:class="notes"><draw:text-box><text:p>${esc(slide.notes)}</text:p></draw:text-box></draw:frame></presentation:notes>`;
      return `<draw:page draw:name="page${i + 1}">${title}${body}${picture}${notes}</draw:page>`;
    })
    .join('');
  return makeOdf(
    'application/vnd.oasis.opendocument.presentation',
    `<office:presentation>${pages}</office:presentation>`,
    pictures,
  );
}

/** An .ods; a row may be `{ repeat, cells }` to use table:number-rows-repeated. */
export async function makeOds(
  sheets: Array<{
    name: string;
    rows: Array<string[] | { repeat: number; cells: string[] }>;
    trailingEmptyRows?: number;
  }>,
): Promise<Uint8Array> {
  const cell = (v: string) =>
    v === ''
      ? '<table:table-cell/>'
      : `<table:table-cell office:value-type="string"><text:p>${esc(v)}</text:p></table:table-cell>`;
  const tables = sheets
    .map((sheet) => {
      const rows = sheet.rows
        .map((row) => {
          const [cells, repeat] = Array.isArray(row) ? [row, 1] : [row.cells, row.repeat];
          const attr = repeat > 1 ? ` table:number-rows-repeated="${repeat}"` : '';
          // Every row ends in a huge run of empty cells, as LibreOffice writes them.
          return `<table:table-row${attr}>${cells.map(cell).join('')}<table:table-cell table:number-columns-repeated="16380"/></table:table-row>`;
        })
        .join('');
      const trailing = sheet.trailingEmptyRows
        ? `<table:table-row table:number-rows-repeated="${sheet.trailingEmptyRows}"><table:table-cell table:number-columns-repeated="1024"/></table:table-row>`
        : '';
      return `<table:table table:name="${esc(sheet.name)}">${rows}${trailing}</table:table>`;
    })
    .join('');
  return makeOdf(
    'application/vnd.oasis.opendocument.spreadsheet',
    `<office:spreadsheet>${tables}</office:spreadsheet>`,
    {},
  );
}

// ---------------- zip bombs ----------------

interface RawEntry {
  name: string;
  /** Bytes as stored in the archive (already deflated for method 8). */
  data: Uint8Array;
  method: 0 | 8;
  crc: number;
  /** The uncompressed size written in the headers (may lie). */
  declaredSize: number;
}

/** A zip written byte by byte, so headers can declare whatever a test needs. */
export function buildZip(entries: RawEntry[]): Uint8Array {
  const chunks: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0, 6);
    local.writeUInt16LE(entry.method, 8);
    local.writeUInt32LE(0, 10);
    local.writeUInt32LE(entry.crc >>> 0, 14);
    local.writeUInt32LE(entry.data.length, 18);
    local.writeUInt32LE(entry.declaredSize, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(20, 4);
    cd.writeUInt16LE(20, 6);
    cd.writeUInt16LE(0, 8);
    cd.writeUInt16LE(entry.method, 10);
    cd.writeUInt32LE(0, 12);
    cd.writeUInt32LE(entry.crc >>> 0, 16);
    cd.writeUInt32LE(entry.data.length, 20);
    cd.writeUInt32LE(entry.declaredSize, 24);
    cd.writeUInt16LE(name.length, 28);
    cd.writeUInt32LE(offset, 42);
    central.push(cd, name);
    chunks.push(local, name, Buffer.from(entry.data));
    offset += local.length + name.length + entry.data.length;
  }
  const cdBytes = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cdBytes.length, 12);
  end.writeUInt32LE(offset, 16);
  return new Uint8Array(Buffer.concat([...chunks, cdBytes, end]));
}

/**
 * A raw deflate stream that really inflates to `mebibytes` MiB of zeros, built from one ~1 KB block
 * repeated (each block byte-aligned by a sync flush), so even a 2 GiB bomb is only ~2 MB to hold.
 */
export function zerosDeflate(mebibytes: number): Uint8Array {
  const block = deflateRawSync(Buffer.alloc(1024 * 1024), { level: 9, finishFlush: constants.Z_SYNC_FLUSH });
  const finalEmptyBlock = Buffer.from([0x03, 0x00]);
  return new Uint8Array(Buffer.concat([...Array.from({ length: mebibytes }, () => block), finalEmptyBlock]));
}

function entryOf(name: string, content: string | Uint8Array): RawEntry {
  const raw = typeof content === 'string' ? Buffer.from(content, 'utf8') : Buffer.from(content);
  return {
    name,
    data: new Uint8Array(deflateRawSync(raw)),
    method: 8,
    crc: crc32(raw),
    declaredSize: raw.length,
  };
}

/**
 * A .docx whose word/document.xml is a stream of zeros that really inflates to `mebibytes` MiB, with headers
 * that either declare that size truthfully (`declare: 'truth'`) or claim a small size (`declare: 'lie'`).
 */
export async function makeDocxBomb(mebibytes: number, declare: 'truth' | 'lie'): Promise<Uint8Array> {
  const parts = await docxParts([{ kind: 'paragraph', text: 'harmless' }]);
  const entries: RawEntry[] = [];
  for (const [name, content] of parts) {
    if (name !== 'word/document.xml') entries.push(entryOf(name, content));
  }
  const size = mebibytes * 1024 * 1024;
  entries.push({
    name: 'word/document.xml',
    data: zerosDeflate(mebibytes),
    method: 8,
    // The CRC of the real content is never reached: the archive must be refused before.
    crc: 0,
    declaredSize: declare === 'truth' ? Math.min(size, 0xfffffffe) : 4096,
  });
  return buildZip(entries);
}

// ---------------- .csv ----------------

export function makeCsv(rows: string[][], delimiter = ',', bom = false): Uint8Array {
  const quote = (v: string) => (/["\n\r,;\t]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  const text = rows.map((row) => row.map(quote).join(delimiter)).join('\r\n');
  return new TextEncoder().encode(`${bom ? '\ufeff' : ''}${text}\r\n`);
}
