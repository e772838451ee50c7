"""Lead, Company, Tag, custom fields, activities, lists, segments, import, merge, consent."""
