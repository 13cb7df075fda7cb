//! Writing a PDF part by part. Each part (a `lopdf::Document` printpdf made of a few pages)
//! has its objects numbered past those already written, serialized straight to the output
//! and dropped: memory holds one part, never the whole document's objects. The writer owns
//! the numbering, the page tree, the catalog, the document information, the
//! cross-reference table and the trailer, written once the last part is in; what else a
//! document holds (a report's signature field, its manifest, the form its footers draw
//! the number of pages with) is added through [`Writer::add`] or [`Writer::form`] before
//! [`Writer::finish`].

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use lopdf::{Dictionary, Object, ObjectId};

use crate::ReportError;

/// The version declared: a report's embedded files and signature need 1.7.
const HEADER: &[u8] = b"%PDF-1.7\n%\xBB\xAD\xC0\xDE\n";

fn pdf_err(why: impl std::fmt::Display) -> ReportError {
    ReportError::Pdf(why.to_string())
}

/// A PDF being written to `W`, part by part.
pub struct Writer<W: Write> {
    out: W,
    /// Bytes written so far: where the next object starts.
    at: u64,
    /// Each written object's offset, by object number (`None`: not written yet).
    offsets: Vec<Option<u64>>,
    /// The page tree's root: numbered before any part, so every page can point at it.
    pages: ObjectId,
    /// Every page written, in order.
    kids: Vec<ObjectId>,
    /// What the first page's `/Annots` gets besides its own (a report's signature field).
    first_annots: Vec<ObjectId>,
    /// The first part's catalog (but its `/Pages`), and its document information: every
    /// part is labelled alike, so the first part's stand for the document's.
    catalog: Dictionary,
    info: Dictionary,
    /// The file identifier (the trailer's `/ID`): the first part's unless set.
    id: Option<Object>,
    /// Forms every page's resources name (`/XObject`), written later: the number of pages.
    forms: Vec<(Vec<u8>, ObjectId)>,
    parts: usize,
}

impl<W: Write> Writer<W> {
    /// Starts a PDF on `out` (its header is written at once).
    pub fn new(mut out: W) -> Result<Writer<W>, ReportError> {
        out.write_all(HEADER).map_err(pdf_err)?;
        let mut w = Writer {
            out,
            at: HEADER.len() as u64,
            offsets: vec![None],
            pages: (0, 0),
            kids: Vec::new(),
            first_annots: Vec::new(),
            catalog: Dictionary::new(),
            info: Dictionary::new(),
            id: None,
            forms: Vec::new(),
            parts: 0,
        };
        w.pages = w.reserve();
        Ok(w)
    }

    /// A new object number, for an object written later with [`Writer::put`] (one a part
    /// refers to, say).
    pub fn reserve(&mut self) -> ObjectId {
        let id = self.offsets.len() as u32;
        self.offsets.push(None);
        (id, 0)
    }

    /// Puts `annot` in the first page's `/Annots`; to be called before the first part.
    pub fn annotate_first_page(&mut self, annot: ObjectId) {
        self.first_annots.push(annot);
    }

    /// Names form `form` (reserved, written later with [`Writer::form`]) `name` in every
    /// page's resources; to be called before the first part.
    pub fn name_on_every_page(&mut self, name: &str, form: ObjectId) {
        self.forms.push((name.as_bytes().to_vec(), form));
    }

    /// Bytes written so far: where the next object starts (an object's bytes are those
    /// between the positions before and after it is written).
    pub fn position(&self) -> u64 {
        self.at
    }

    /// The first page, once a part is written.
    pub fn first_page(&self) -> Option<ObjectId> {
        self.kids.first().copied()
    }

    /// The document's catalog, for entries of its own (`/Pages` is the writer's).
    pub fn catalog_mut(&mut self) -> &mut Dictionary {
        &mut self.catalog
    }

    /// The document information dictionary.
    pub fn info_mut(&mut self) -> &mut Dictionary {
        &mut self.info
    }

    /// Sets the file identifier.
    pub fn set_id(&mut self, id: Object) {
        self.id = Some(id);
    }

    /// Writes `object` as a new object.
    pub fn add(&mut self, object: Object) -> Result<ObjectId, ReportError> {
        let id = self.reserve();
        self.put(id, object)?;
        Ok(id)
    }

    /// Writes `object` as `id`, reserved and not yet written.
    pub fn put(&mut self, id: ObjectId, object: Object) -> Result<(), ReportError> {
        let slot = self
            .offsets
            .get_mut(id.0 as usize)
            .filter(|s| s.is_none() && id.0 > 0 && id.1 == 0)
            .ok_or_else(|| pdf_err(format!("object {} was not reserved or is written", id.0)))?;
        *slot = Some(self.at);
        let bytes = serialize(object)?;
        let head = format!("{} 0 obj\n", id.0);
        for chunk in [head.as_bytes(), &bytes, b"\nendobj\n"] {
            self.out.write_all(chunk).map_err(pdf_err)?;
            self.at += chunk.len() as u64;
        }
        Ok(())
    }

    /// Writes a part's pages and what they refer to, after the pages written so far. Its
    /// catalog, page tree root and document information are dropped (the first part's
    /// catalog entries and information are kept for the document's), and with them what
    /// only they refer to, as `lopdf::Document::prune_objects` would.
    pub fn part(&mut self, mut part: lopdf::Document) -> Result<(), ReportError> {
        let number = self.parts + 1;
        let bad = |why: &str| pdf_err(format!("part {number} of the document: {why}"));
        let reference = |d: &Dictionary, key: &[u8]| d.get(key).and_then(Object::as_reference);
        let catalog_id = reference(&part.trailer, b"Root").map_err(|_| bad("no catalog"))?;
        let info_id = reference(&part.trailer, b"Info").ok();
        let part_id = part.trailer.get(b"ID").ok().cloned();
        let pages: Vec<ObjectId> = part.get_pages().into_values().collect();
        if pages.is_empty() {
            return Err(bad("no pages"));
        }
        let Some(Object::Dictionary(mut catalog)) = part.objects.remove(&catalog_id) else {
            return Err(bad("no catalog"));
        };
        let root = reference(&catalog, b"Pages").map_err(|_| bad("no page tree"))?;
        catalog.remove(b"Pages");
        part.objects.remove(&root);
        let info = match info_id.and_then(|id| part.objects.remove(&id)) {
            Some(Object::Dictionary(d)) => d,
            _ => Dictionary::new(),
        };
        let first = self.parts == 0;

        // What the pages (and, for the first part, the catalog and information) refer to.
        let mut wanted: Vec<ObjectId> = pages.clone();
        if first {
            references(&Object::Dictionary(catalog.clone()), &mut wanted);
            references(&Object::Dictionary(info.clone()), &mut wanted);
        }
        // The part's page tree root is the document's (each page's /Parent).
        let keep = reached(&part, wanted, root).map_err(|why| bad(&why))?;
        // Numbered in the part's own order, past what is written.
        let mut map = BTreeMap::from([(root, self.pages)]);
        for id in &keep {
            map.insert(*id, self.reserve());
        }
        // Each form is named by a stand-in reference, which renumbering makes the form's
        // own (a reference to the writer's numbering would be taken for the part's).
        for (k, (name, form)) in self.forms.iter().enumerate() {
            let stand_in = (u32::MAX - k as u32, 0);
            map.insert(stand_in, *form);
            for page in &pages {
                xobjects(&mut part, *page)
                    .ok_or_else(|| bad("a page's resources cannot be read"))?
                    .set(name.clone(), Object::Reference(stand_in));
            }
        }
        for id in keep {
            let mut o = moved(&mut part, id, &map).map_err(|why| bad(&why))?;
            if first && Some(&id) == pages.first() && !self.first_annots.is_empty() {
                let Object::Dictionary(page) = &mut o else {
                    return Err(bad("its first page is not a dictionary"));
                };
                let mut annots = match page.get(b"Annots") {
                    Ok(Object::Array(a)) => a.clone(),
                    _ => Vec::new(),
                };
                annots.extend(self.first_annots.iter().map(|a| Object::Reference(*a)));
                page.set("Annots", Object::Array(annots));
            }
            self.put(map[&id], o)?;
        }
        self.kids.extend(pages.iter().map(|p| map[p]));
        if first {
            let mut c = Object::Dictionary(catalog);
            renumber(&mut c, &map);
            let mut i = Object::Dictionary(info);
            renumber(&mut i, &map);
            if let (Object::Dictionary(c), Object::Dictionary(i)) = (c, i) {
                self.catalog = c;
                self.info = i;
            }
            self.id = self.id.take().or(part_id);
        }
        self.parts += 1;
        Ok(())
    }

    /// Writes the one page of `part` as form XObject `form` (reserved, named on every page
    /// with [`Writer::name_on_every_page`]): its content, drawn within `bbox`, with the
    /// fonts it shows text with.
    pub fn form(
        &mut self,
        form: ObjectId,
        mut part: lopdf::Document,
        bbox: [f32; 4],
    ) -> Result<(), ReportError> {
        let bad = |why: &str| pdf_err(format!("the form of object {}: {why}", form.0));
        let pages: Vec<ObjectId> = part.get_pages().into_values().collect();
        let [page] = pages[..] else {
            return Err(bad("its part has not one page"));
        };
        let dict = part.get_dictionary(page).map_err(|_| bad("no page"))?;
        let contents = dict
            .get(b"Contents")
            .and_then(Object::as_reference)
            .map_err(|_| bad("no content"))?;
        let fonts = match dict.get(b"Resources") {
            Ok(Object::Reference(r)) => part.get_dictionary(*r).ok(),
            Ok(Object::Dictionary(d)) => Some(d),
            _ => None,
        }
        .and_then(|r| r.get(b"Font").ok())
        .cloned()
        .ok_or_else(|| bad("no fonts"))?;
        let Some(Object::Stream(content)) = part.objects.remove(&contents) else {
            return Err(bad("no content stream"));
        };
        let mut wanted = Vec::new();
        references(&fonts, &mut wanted);
        let keep = reached(&part, wanted, page).map_err(|why| bad(&why))?;
        let mut map = BTreeMap::new();
        for id in &keep {
            map.insert(*id, self.reserve());
        }
        for id in keep {
            let o = moved(&mut part, id, &map).map_err(|why| bad(&why))?;
            self.put(map[&id], o)?;
        }
        let mut fonts = fonts;
        renumber(&mut fonts, &map);
        let mut dict = content.dict;
        dict.set("Type", Object::Name(b"XObject".to_vec()));
        dict.set("Subtype", Object::Name(b"Form".to_vec()));
        dict.set(
            "BBox",
            Object::Array(bbox.iter().map(|v| Object::Real(*v)).collect()),
        );
        dict.set("Resources", Dictionary::from_iter([("Font", fonts)]));
        self.put(
            form,
            Object::Stream(lopdf::Stream::new(dict, content.content)),
        )
    }

    /// Writes the page tree, the document information, the catalog, the cross-reference
    /// table and the trailer, and hands back the output.
    pub fn finish(mut self) -> Result<W, ReportError> {
        if self.kids.is_empty() {
            return Err(pdf_err("the document has no pages"));
        }
        let mut tree = Dictionary::new();
        tree.set("Type", Object::Name(b"Pages".to_vec()));
        tree.set("Count", Object::Integer(self.kids.len() as i64));
        let kids = std::mem::take(&mut self.kids);
        tree.set(
            "Kids",
            Object::Array(kids.into_iter().map(Object::Reference).collect()),
        );
        self.put(self.pages, Object::Dictionary(tree))?;
        let info = std::mem::take(&mut self.info);
        let info = self.add(Object::Dictionary(info))?;
        let mut catalog = std::mem::take(&mut self.catalog);
        catalog.set("Type", Object::Name(b"Catalog".to_vec()));
        catalog.set("Pages", Object::Reference(self.pages));
        let catalog = self.add(Object::Dictionary(catalog))?;

        let xref = self.at;
        let mut t = Vec::new();
        t.extend_from_slice(format!("xref\n0 {}\n", self.offsets.len()).as_bytes());
        for (n, at) in self.offsets.iter().enumerate() {
            match at {
                Some(at) => t.extend_from_slice(format!("{at:010} 00000 n \n").as_bytes()),
                // Object 0 heads the free list; a number reserved and never written (none
                // is, in a finished report) is free as well.
                None if n == 0 => t.extend_from_slice(b"0000000000 65535 f \n"),
                None => t.extend_from_slice(b"0000000000 00000 f \n"),
            }
        }
        let mut trailer = Dictionary::new();
        trailer.set("Root", Object::Reference(catalog));
        trailer.set("Info", Object::Reference(info));
        if let Some(id) = self.id.take() {
            trailer.set("ID", id);
        }
        trailer.set("Size", Object::Integer(self.offsets.len() as i64));
        t.extend_from_slice(b"trailer\n");
        t.extend_from_slice(&serialize(Object::Dictionary(trailer))?);
        t.extend_from_slice(format!("\nstartxref\n{xref}\n%%EOF").as_bytes());
        self.out.write_all(&t).map_err(pdf_err)?;
        self.out.flush().map_err(pdf_err)?;
        Ok(self.out)
    }
}

/// An object's bytes, as lopdf writes them. lopdf 0.44 keeps its object writer private; a
/// content stream's encoder is the public way to it (an operation without an operator is
/// its operands, each followed by a space, which is then left out).
fn serialize(object: Object) -> Result<Vec<u8>, ReportError> {
    let content = lopdf::content::Content {
        operations: vec![lopdf::content::Operation {
            operator: String::new(),
            operands: vec![object],
        }],
    };
    let mut bytes = content.encode().map_err(pdf_err)?;
    bytes.pop();
    Ok(bytes)
}

/// Every object of `part` that `from` refers to, directly or through others, but `stop`
/// and what only it refers to; an object referred to but missing is an error.
fn reached(
    part: &lopdf::Document,
    mut wanted: Vec<ObjectId>,
    stop: ObjectId,
) -> Result<BTreeSet<ObjectId>, String> {
    let mut keep = BTreeSet::new();
    while let Some(id) = wanted.pop() {
        if id == stop || !keep.insert(id) {
            continue;
        }
        let o = part
            .objects
            .get(&id)
            .ok_or_else(|| format!("object {} is referred to but missing", id.0))?;
        references(o, &mut wanted);
    }
    Ok(keep)
}

/// Object `id` taken out of `part`, its references renumbered by `map`.
fn moved(
    part: &mut lopdf::Document,
    id: ObjectId,
    map: &BTreeMap<ObjectId, ObjectId>,
) -> Result<Object, String> {
    let mut o = part
        .objects
        .remove(&id)
        .ok_or_else(|| format!("object {} is missing", id.0))?;
    renumber(&mut o, map);
    Ok(o)
}

/// The form page `page` of `doc` names `name` in its resources, as a test reads it back.
#[cfg(test)]
pub(crate) fn form_named(doc: &lopdf::Document, page: ObjectId, name: &[u8]) -> Option<ObjectId> {
    let resources = doc
        .get_dictionary(page)
        .and_then(|d| d.get(b"Resources"))
        .and_then(|r| doc.dereference(r))
        .and_then(|(_, r)| r.as_dict())
        .ok()?;
    resources
        .get(b"XObject")
        .and_then(|x| doc.dereference(x))
        .and_then(|(_, x)| x.as_dict())
        .and_then(|x| x.get(name))
        .and_then(Object::as_reference)
        .ok()
}

/// The dictionary of XObjects page `page` of `part` names in its resources (made if it has
/// none); None if the page or its resources are not dictionaries.
fn xobjects(part: &mut lopdf::Document, page: ObjectId) -> Option<&mut Dictionary> {
    let at = |d: &Dictionary, key: &[u8]| d.get(key).ok().and_then(|o| o.as_reference().ok());
    let page_dict = part.get_dictionary(page).ok()?;
    let holder = at(page_dict, b"Resources").unwrap_or(page);
    let inline = holder == page;
    let xobject = {
        let d = part.get_dictionary(holder).ok()?;
        let res = if inline {
            d.get(b"Resources").ok()?.as_dict().ok()?
        } else {
            d
        };
        at(res, b"XObject")
    };
    if let Some(x) = xobject {
        return part.get_dictionary_mut(x).ok();
    }
    let d = part.get_dictionary_mut(holder).ok()?;
    let res = if inline {
        d.get_mut(b"Resources").ok()?.as_dict_mut().ok()?
    } else {
        d
    };
    if !matches!(res.get(b"XObject"), Ok(Object::Dictionary(_))) {
        res.set("XObject", Dictionary::new());
    }
    res.get_mut(b"XObject").ok()?.as_dict_mut().ok()
}

/// Pushes every object `o` refers to onto `out`.
fn references(o: &Object, out: &mut Vec<ObjectId>) {
    match o {
        Object::Reference(id) => out.push(*id),
        Object::Array(a) => a.iter().for_each(|o| references(o, out)),
        Object::Dictionary(d) => d.iter().for_each(|(_, o)| references(o, out)),
        Object::Stream(s) => s.dict.iter().for_each(|(_, o)| references(o, out)),
        _ => {}
    }
}

/// Rewrites `o`'s references by `map` (every object a kept object refers to is in it).
fn renumber(o: &mut Object, map: &BTreeMap<ObjectId, ObjectId>) {
    match o {
        Object::Reference(id) => {
            if let Some(new) = map.get(id) {
                *id = *new;
            }
        }
        Object::Array(a) => a.iter_mut().for_each(|o| renumber(o, map)),
        Object::Dictionary(d) => d.iter_mut().for_each(|(_, o)| renumber(o, map)),
        Object::Stream(s) => s.dict.iter_mut().for_each(|(_, o)| renumber(o, map)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lopdf::dictionary;

    /// A part of three pages whose XObject names are where a PDF may keep them: in a
    /// dictionary of their own, inline in the page's resources, and nowhere yet.
    fn part() -> lopdf::Document {
        let mut d = lopdf::Document::with_version("1.7");
        let tree = d.new_object_id();
        let names = d.add_object(dictionary! { "Im0" => Object::Null });
        let shared = d.add_object(dictionary! { "XObject" => Object::Reference(names) });
        let inline = dictionary! { "XObject" => dictionary! {} };
        let mut kids = Vec::new();
        for resources in [
            Object::Reference(shared),
            Object::Dictionary(inline),
            Object::Dictionary(Dictionary::new()),
        ] {
            let content = d.add_object(lopdf::Stream::new(Dictionary::new(), b"q Q".to_vec()));
            kids.push(Object::Reference(d.add_object(dictionary! {
                "Type" => "Page",
                "Parent" => Object::Reference(tree),
                "Contents" => Object::Reference(content),
                "Resources" => resources,
            })));
        }
        d.objects.insert(
            tree,
            Object::Dictionary(dictionary! { "Type" => "Pages", "Count" => 3, "Kids" => kids }),
        );
        let catalog =
            d.add_object(dictionary! { "Type" => "Catalog", "Pages" => Object::Reference(tree) });
        d.trailer.set("Root", Object::Reference(catalog));
        d
    }

    #[test]
    fn every_page_names_the_form_wherever_its_names_are_kept() {
        let mut w = Writer::new(Vec::new()).expect("a header");
        let form = w.reserve();
        w.name_on_every_page("Tot", form);
        w.part(part()).expect("the first part");
        w.part(part()).expect("the second part");
        let pdf = {
            let mut one = printpdf::PdfDocument::new("t");
            one.with_pages(vec![printpdf::PdfPage::new(
                printpdf::Mm(10.0),
                printpdf::Mm(10.0),
                Vec::new(),
            )]);
            let mut warnings = Vec::new();
            let lo = one.to_lopdf_document(&printpdf::PdfSaveOptions::default(), &mut warnings);
            w.form(form, lo, [0.0, 0.0, 10.0, 10.0]).expect("the form");
            w.finish().expect("finished")
        };
        let doc = lopdf::Document::load_mem(&pdf).expect("a PDF");
        let pages: Vec<ObjectId> = doc.get_pages().into_values().collect();
        assert_eq!(pages.len(), 6);
        for p in pages {
            assert_eq!(form_named(&doc, p, b"Tot"), Some(form));
        }
        let form = doc
            .get_object(form)
            .and_then(Object::as_stream)
            .expect("the form");
        assert_eq!(
            form.dict.get(b"Subtype").and_then(Object::as_name).ok(),
            Some(&b"Form"[..])
        );
    }
}
