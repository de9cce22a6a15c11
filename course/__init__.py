"""The course: a source notebook per chapter, with its solutions, and the tool that builds
the student and instructor versions from them (:mod:`course.build`)."""
