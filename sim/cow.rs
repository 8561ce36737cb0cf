//! Copy-on-write arenas, so that a world forks cheaply: `sim check` clones one built world per
//! pair it pings, and a pair touches a handful of the netns and devices. Holds no simulation
//! logic.

use std::ops::{Index, IndexMut};
use std::sync::Arc;

/// A vector whose elements are shared between clones until one clone writes to one of them:
/// indexing for writing (`v[i].x = ..`, `&mut v[i]`) copies that element first if another clone
/// still holds it. Without clones it is a plain vector behind one pointer per element.
#[derive(Debug)]
pub struct CowVec<T>(Vec<Arc<T>>);

impl<T> Clone for CowVec<T> {
    fn clone(&self) -> Self {
        CowVec(self.0.clone())
    }
}

impl<T> Default for CowVec<T> {
    fn default() -> Self {
        CowVec(Vec::new())
    }
}

impl<T: Clone> CowVec<T> {
    /// An empty arena.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an element, owned by this clone alone.
    pub fn push(&mut self, v: T) {
        self.0.push(Arc::new(v));
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is no element.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The element at `i`, for reading.
    pub fn get(&self, i: usize) -> Option<&T> {
        self.0.get(i).map(|a| &**a)
    }

    /// The elements in order, for reading (no copy).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator {
        self.0.iter().map(|a| &**a)
    }
}

impl<T> Index<usize> for CowVec<T> {
    type Output = T;
    fn index(&self, i: usize) -> &T {
        &self.0[i]
    }
}

impl<T: Clone> IndexMut<usize> for CowVec<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        Arc::make_mut(&mut self.0[i])
    }
}

impl<'a, T: Clone> IntoIterator for &'a CowVec<T> {
    type Item = &'a T;
    type IntoIter = std::iter::Map<std::slice::Iter<'a, Arc<T>>, fn(&'a Arc<T>) -> &'a T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|a| &**a)
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
        let mut b = a.clone();
        b[1].push(3);
        assert_eq!((a[1].clone(), b[1].clone()), (vec![2], vec![2, 3]));
        // The untouched element is still one allocation shared by both.
        assert!(std::ptr::eq(&a[0], &b[0]));
    }
}
