//! Copy-on-write arenas, so that a world forks cheaply: `sim check` clones one built world per
//! pair it pings, and a pair touches a handful of the netns and devices. Holds no simulation
//! logic.

use std::ops::{Index, IndexMut};
use std::sync::Arc;

/// A vector that is either owned outright (a plain vector: writes cost nothing extra, as on
/// a single run's hot path) or, after `share()`, elements shared between clones until one clone
/// writes to one of them: indexing for writing (`v[i].x = ..`, `&mut v[i]`) copies that element
/// first if another clone still holds it. Cloning an owned vector copies every element; a world
/// that is going to be forked many times is shared first.
#[derive(Debug)]
pub struct CowVec<T>(Repr<T>);

#[derive(Debug)]
enum Repr<T> {
    Owned(Vec<T>),
    Shared(Vec<Arc<T>>),
}

impl<T: Clone> Clone for CowVec<T> {
    fn clone(&self) -> Self {
        CowVec(match &self.0 {
            Repr::Owned(v) => Repr::Owned(v.clone()),
            Repr::Shared(v) => Repr::Shared(v.clone()),
        })
    }
}

impl<T> Default for CowVec<T> {
    fn default() -> Self {
        CowVec(Repr::Owned(Vec::new()))
    }
}

impl<T: Clone> CowVec<T> {
    /// An empty arena.
    pub fn new() -> Self {
        Self::default()
    }

    /// From now on clones share elements until written (one pointer per element).
    pub fn share(&mut self) {
        if let Repr::Owned(v) = &mut self.0 {
            let v = std::mem::take(v);
            self.0 = Repr::Shared(v.into_iter().map(Arc::new).collect());
        }
    }

    /// Appends an element, owned by this clone alone.
    pub fn push(&mut self, v: T) {
        match &mut self.0 {
            Repr::Owned(o) => o.push(v),
            Repr::Shared(s) => s.push(Arc::new(v)),
        }
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Owned(v) => v.len(),
            Repr::Shared(v) => v.len(),
        }
    }

    /// True when there is no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element at `i`, for reading.
    pub fn get(&self, i: usize) -> Option<&T> {
        match &self.0 {
            Repr::Owned(v) => v.get(i),
            Repr::Shared(v) => v.get(i).map(|a| &**a),
        }
    }

    /// The elements in order, for reading (no copy).
    pub fn iter(&self) -> Iter<'_, T> {
        match &self.0 {
            Repr::Owned(v) => Iter::Owned(v.iter()),
            Repr::Shared(v) => Iter::Shared(v.iter()),
        }
    }
}

/// Iterator over a `CowVec`'s elements.
pub enum Iter<'a, T> {
    Owned(std::slice::Iter<'a, T>),
    Shared(std::slice::Iter<'a, Arc<T>>),
}

impl<'a, T> Iterator for Iter<'a, T> {
    type Item = &'a T;
    fn next(&mut self) -> Option<&'a T> {
        match self {
            Iter::Owned(i) => i.next(),
            Iter::Shared(i) => i.next().map(|a| &**a),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Iter::Owned(i) => i.size_hint(),
            Iter::Shared(i) => i.size_hint(),
        }
    }
}

impl<T> DoubleEndedIterator for Iter<'_, T> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Owned(i) => i.next_back(),
            Iter::Shared(i) => i.next_back().map(|a| &**a),
        }
    }
}

impl<T> ExactSizeIterator for Iter<'_, T> {}

impl<T> Index<usize> for CowVec<T> {
    type Output = T;
    #[inline]
    fn index(&self, i: usize) -> &T {
        match &self.0 {
            Repr::Owned(v) => &v[i],
            Repr::Shared(v) => &v[i],
        }
    }
}

impl<T: Clone> IndexMut<usize> for CowVec<T> {
    /// Inlined for the owned case (every write on a run's hot path); the copy of a shared
    /// element stays out of line.
    #[inline]
    fn index_mut(&mut self, i: usize) -> &mut T {
        match &mut self.0 {
            Repr::Owned(v) => &mut v[i],
            Repr::Shared(v) => make_mut(&mut v[i]),
        }
    }
}

#[inline(never)]
fn make_mut<T: Clone>(a: &mut Arc<T>) -> &mut T {
    Arc::make_mut(a)
}

impl<'a, T: Clone> IntoIterator for &'a CowVec<T> {
    type Item = &'a T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_to_a_clone_leaves_the_original_alone() {
        let mut a = CowVec::new();
        a.push(vec![1]);
        a.push(vec![2]);
        a.share();
        let mut b = a.clone();
        b[1].push(3);
        assert_eq!((a[1].clone(), b[1].clone()), (vec![2], vec![2, 3]));
        // The untouched element is still one allocation shared by both.
        assert!(std::ptr::eq(&a[0], &b[0]));
    }

    #[test]
    fn an_owned_arena_clones_deeply() {
        let mut a = CowVec::new();
        a.push(vec![1]);
        let mut b = a.clone();
        b[0].push(2);
        assert_eq!((a[0].clone(), b[0].clone()), (vec![1], vec![1, 2]));
        assert!(!std::ptr::eq(&a[0], &b[0]));
    }
}
